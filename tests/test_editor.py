"""What artists see in the editor: tooltips on every input and output, names the node search finds,
previews and read-outs on the nodes (in-process and in /history), depth pictures from other packs
made metric, the lens a depth assumed, depth files only in DepthLoad, installed face models only,
progress from the first moment of LensBokeh."""

import json
import logging
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from comfy_host import frontends, run_node
from PIL import Image
from skimage import data

from portraitos.engine.depth import DepthMap, ImageDepthSettings, depth_from_picture, is_depth_file
from portraitos.engine.lens import LensSettings, lens_mismatch, render_lens_bokeh

REPO = Path(__file__).resolve().parents[1]
NODE_IDS = ("DepthEstimate", "DepthLoad", "DepthFromImage", "IdentityLoader", "LensBokeh", "LightingTint")
# inputs whose 0 means "work it out": their tooltips must say so
AUTO_INPUTS = {
    "DepthEstimate": ("subject_distance_m",),
    "DepthFromImage": ("near_distance_m",),
    "LensBokeh": ("focus_distance_m",),
    "LightingTint": ("key_temperature_k", "ambient_temperature_k"),
    "IdentityLoader": ("face_index",),
}
# Frontend 1.32.9's node search (NodeSearchService) is Fuse.js over the keys ["name", "display_name"]
# with threshold 0.3 and Fuse's default location 0 / distance 100: an exact word matches only when it
# starts within the first 30 characters of the node id or the display name. Description and category
# are not searched.
SEARCH_REACH = 30
ALL_NODE_IDS = (*NODE_IDS, "IdentityScore", "PortraitGenerate")
SEARCH_WORDS = {
    "portrait": ALL_NODE_IDS,
    "blur": ("LensBokeh",),
    "bokeh": ("LensBokeh",),
    "dof": ("LensBokeh",),
    "face": ("DepthEstimate", "IdentityLoader"),
    "background": ("DepthEstimate", "LensBokeh"),
    "depth": ("DepthEstimate", "DepthLoad", "DepthFromImage"),
    "light": ("LightingTint",),
    "identity": ("IdentityLoader",),
}
# found by frontends that also search the nodes' search_aliases (1.5x), not by the display names alone
ALIAS_WORDS = {"depth of field": ("LensBokeh",), "depth anything": ("DepthFromImage",), "relight": ("LightingTint",)}
CATEGORIES = {
    "DepthEstimate": "PortraitOS/Depth",
    "DepthLoad": "PortraitOS/Depth",
    "DepthFromImage": "PortraitOS/Depth",
    "LensBokeh": "PortraitOS/Lens",
    "LightingTint": "PortraitOS/Light",
    "IdentityLoader": "PortraitOS/Identity",
}


def _check_tooltips(info: dict) -> None:
    for node in NODE_IDS:
        n = info[node]
        for section in ("required", "optional"):
            for name, spec in n["input"].get(section, {}).items():
                tip = spec[1].get("tooltip") if len(spec) > 1 else None
                assert tip and len(tip) > 15, f"{node}.{name} has no tooltip"
        assert len(n["output_tooltips"]) == len(n["output"])
        for name, tip in zip(n["output_name"], n["output_tooltips"]):
            assert tip and len(tip) > 15, f"{node} output {name} has no tooltip"
        for name in AUTO_INPUTS.get(node, ()):
            spec = n["input"]["required"][name]
            assert "auto" in spec[1]["tooltip"], f"{node}.{name}: the tooltip must say what 'auto' does"


def _check_search_and_categories(info: dict) -> None:
    for word, nodes in SEARCH_WORDS.items():
        for node in nodes:
            fields = (node.lower(), info[node]["display_name"].lower())
            at = min((f.find(word) for f in fields if word in f), default=-1)
            assert 0 <= at <= SEARCH_REACH, f"searching {word!r} would not find {node} ({fields})"
    for node, category in CATEGORIES.items():
        assert info[node]["category"] == category


def test_object_info_in_process_has_tooltips_search_words_and_groups(comfy_nodes):
    info = {n: comfy_nodes.NODE_CLASS_MAPPINGS[n].GET_NODE_INFO_V1() for n in ALL_NODE_IDS}
    info = json.loads(json.dumps(info, default=str))  # as /object_info serialises it
    _check_tooltips(info)
    _check_search_and_categories(info)


@pytest.mark.live
def test_object_info_live_has_tooltips_search_words_and_groups(comfy_server):
    info = comfy_server.get_json("/object_info")
    ours = {k for k, v in info.items() if "PortraitOS" in v.get("python_module", "")}
    assert set(NODE_IDS) <= ours, ours
    _check_tooltips(info)
    _check_search_and_categories(info)


@pytest.mark.live
def test_frontend_search_finds_the_nodes(comfy_server, tmp_path):
    """The frontend's own Fuse.js and node-search options (read from comfyui_frontend_package's JS) over
    the live /object_info: the words artists type find the nodes."""
    import shutil
    import subprocess

    import comfyui_frontend_package

    node = shutil.which("node")
    assert node, "needs Node.js (Debian package nodejs; scripts/install_system_deps.sh installs it)"
    info = comfy_server.get_json("/object_info")
    for node_id in ALL_NODE_IDS:
        assert "portrait" in info[node_id]["search_aliases"], node_id
    defs = tmp_path / "defs.json"
    keep = ("name", "display_name", "search_aliases")
    defs.write_text(json.dumps([{k: v[k] for k in keep if k in v} for v in info.values()]))
    script = REPO / "scripts" / "frontend_search.mjs"
    words = [*SEARCH_WORDS, *ALIAS_WORDS]
    pinned = Path(comfyui_frontend_package.__file__).parent / "static"
    for version, static in [(v, root or pinned) for v, root in frontends()]:
        command = [node, str(script), str(static / "assets"), str(defs), *words]
        run = subprocess.run(command, capture_output=True, text=True)
        assert run.returncode == 0, (version, run.stderr[-2000:])
        found = json.loads(run.stdout)
        keys = found["_options"]["keys"]
        assert keys[:2] == ["name", "display_name"], (version, keys)  # what this frontend's search reads
        expected = {**SEARCH_WORDS, **(ALIAS_WORDS if "search_aliases" in keys else {})}
        for word, nodes in expected.items():
            assert set(nodes) <= set(found[word]), (version, word, found[word])


# --- depth pictures from other packs ------------------------------------------------------------


def _scene_depth(h=96, w=128) -> torch.Tensor:
    """Known metres: a wall receding from 3 to 9 m with a subject at 1.2 m in front."""
    x = torch.linspace(0, 1, w).view(1, w).expand(h, w)
    d = 3.0 + 6.0 * x
    d = d.clone()
    d[30:80, 40:80] = 1.2
    return d


def _disparity_picture(d: torch.Tensor) -> torch.Tensor:
    """As Depth Anything / MiDaS draw it: relative disparity normalised 0..1, near = bright."""
    disp = 1.0 / d
    return (disp - disp.min()) / (disp.max() - disp.min())


def test_disparity_picture_round_trips_to_metres():
    d = _scene_depth()
    pic = _disparity_picture(d)
    near, far = float(d.min()), float(d.max())
    for picture in (pic[None], pic[None, ..., None].expand(1, -1, -1, 3)):  # MASK and IMAGE
        settings = ImageDepthSettings(calibration="near/far distances", near_m=near, far_m=far)
        ticks = []
        dm, matte = depth_from_picture(picture, settings, progress=lambda d, t: ticks.append((d, t)))
        assert ticks == [(1, 2), (2, 2)]  # the image calibrated, the matte made
        assert dm.source == "calibrated" and dm.metres.shape == (1, *d.shape)
        assert torch.allclose(dm.metres[0], d, rtol=1e-4)
        assert float(matte[0, 40:70, 50:70].mean()) > 0.9 and float(matte[0, :20, 100:].mean()) < 0.1
    # the other conventions: near = dark, and values proportional to distance
    dark = ImageDepthSettings(near_is_bright=False, calibration="near/far distances", near_m=near, far_m=far)
    assert torch.allclose(depth_from_picture(1.0 - pic[None], dark)[0].metres[0], d, rtol=1e-4)
    lin = (d - near) / (far - near)
    dist = ImageDepthSettings("distance", False, "near/far distances", near, far)
    assert torch.allclose(depth_from_picture(lin[None], dist)[0].metres[0], d, rtol=1e-4)


def test_eight_bit_disparity_picture_stays_within_quantisation():
    d = _scene_depth()
    pic8 = torch.round(_disparity_picture(d) * 255) / 255
    settings = ImageDepthSettings(calibration="near/far distances", near_m=1.2, far_m=9.0)
    got = depth_from_picture(pic8[None], settings)[0].metres[0]
    # one 8-bit step of disparity between 1/9 and 1/1.2 m⁻¹ is 0.0029 m⁻¹: at 9 m that is ±2.4 %
    assert float(((got - d).abs() / d).max()) < 0.025


def test_face_calibration_places_the_subject_at_the_face_distance():
    """The astronaut photo with a depth picture of a subject plane and a far wall: the subject comes out at
    the distance DepthEstimate's prior finds for the face (its iris), the wall at far_distance_m."""
    from portraitos.engine.depth import EstimateSettings, estimate_depth
    from portraitos.engine.faces.detection import find_faces_scaled

    img = data.astronaut()
    photo = torch.from_numpy(img).float()[None] / 255
    face = find_faces_scaled(img)[0]
    expect = estimate_depth(photo, EstimateSettings(focal_length_mm=85.0))[0].meta["subject_distance_m"]
    truth = torch.full((256, 256), 6.0)
    x, y, w, h = (v // 2 for v in face.box)  # the depth picture is half the photo's size
    truth[max(0, y - h) : y + 2 * h, max(0, x - w // 2) : x + w + w // 2] = expect
    settings = ImageDepthSettings(far_m=6.0)
    dm, _ = depth_from_picture(_disparity_picture(truth)[None], settings, photo)
    got = dm.metres[0]
    assert float(got[y + h // 2, x + w // 2]) == pytest.approx(expect, rel=0.02)
    assert float(got[5, 250]) == pytest.approx(6.0, rel=0.05)
    assert dm.meta["focal_length_mm"] == 85.0
    assert dm.meta["subject_distance_from"].startswith(("iris diameter", "interpupillary distance"))
    assert len(dm.meta["eye_xy"]) == 2  # auto focus can use the eyes


def test_depth_from_image_node_in_process(comfy_nodes):
    cls = comfy_nodes.NODE_CLASS_MAPPINGS["DepthFromImage"]
    d = _scene_depth()
    picture = _disparity_picture(d)[None, ..., None].expand(1, -1, -1, 3).contiguous()
    out = run_node(cls, depth_image=picture, calibration="near/far distances", near_distance_m=1.2, far_distance_m=9.0)
    dm, preview, mask = out.args
    assert torch.allclose(dm.metres[0], d, rtol=1e-4)
    assert preview.shape == (1, *d.shape, 3) and mask.shape == (1, *d.shape)
    assert len(out.ui["images"]) == 2 and out.ui["portraitos"][0]["labels"]["depth"].startswith("depth 1.2 m")
    assert isinstance(cls.validate_inputs("near/far distances", 0.0, 6.0), str)  # near distance missing
    assert "calibration" in cls.validate_inputs("sideways", 1.0, 6.0)
    assert "far_distance_m" in cls.validate_inputs("face", 0.0, float("nan"))
    assert cls.validate_inputs("face", 0.0, 6.0) is True
    with pytest.raises(ValueError, match="depth_image"):
        run_node(cls)


# --- the lens a depth assumed ---------------------------------------------------------------------


def _depth_for_lens(focal=85.0, sensor="full frame 36x24") -> DepthMap:
    d = torch.full((1, 48, 64), 6.0)
    d[:, 12:36, 20:44] = 2.0
    return DepthMap(d, "calibrated", {"focal_length_mm": focal, "sensor": sensor})


def test_lens_mismatch_names_what_differs():
    meta = {"focal_length_mm": 85.0, "sensor": "full frame 36x24"}
    assert lens_mismatch(meta, 85.0, "full frame 36x24") is None
    assert lens_mismatch(meta, 86.0, "full frame 36x24") is None  # within 2 %
    assert lens_mismatch({}, 35.0, "APS-C 23.5x15.6") is None  # measured depth assumes no lens
    msg = lens_mismatch(meta, 35.0, "APS-C 23.5x15.6")
    assert "focal length 85 mm (here 35 mm)" in msg and "sensor full frame 36x24 (here APS-C" in msg


def test_lens_bokeh_warns_on_a_different_lens_and_follows_on_request(comfy_nodes, caplog):
    cls = comfy_nodes.NODE_CLASS_MAPPINGS["LensBokeh"]
    img = torch.rand(1, 48, 64, 3)
    kw = dict(image=img, depth=_depth_for_lens(), f_number=1.8, focus_distance_m=2.0)
    with caplog.at_level(logging.WARNING, logger="PortraitOS"):
        out = run_node(cls, focal_length_mm=35.0, sensor="APS-C 23.5x15.6", **kw)
    warned = out.ui["portraitos"][0]["warnings"]
    assert any("focal length 85 mm (here 35 mm)" in w for w in warned), warned
    assert "focal length 85 mm" in caplog.text and "⚠" in out.ui["text"][0]
    same = run_node(cls, focal_length_mm=85.0, **kw)
    assert same.ui["portraitos"][0]["warnings"] == []
    follow = run_node(cls, focal_length_mm=35.0, sensor="APS-C 23.5x15.6", depth_lens="use the depth's lens", **kw)
    assert follow.ui["portraitos"][0]["warnings"] == []
    assert torch.equal(follow.args[1], same.args[1])  # the CoC of the depth's 85 mm full-frame lens
    assert not torch.equal(out.args[1], same.args[1])


def test_lens_bokeh_previews_result_and_in_focus_overlay(comfy_nodes):
    cls = comfy_nodes.NODE_CLASS_MAPPINGS["LensBokeh"]
    kw = dict(image=torch.rand(1, 48, 64, 3), depth=_depth_for_lens(), focus_distance_m=0.0)
    plain = run_node(cls, **kw)
    overlay = run_node(cls, preview="result + in-focus overlay", **kw)
    assert len(plain.ui["images"]) == 1 and len(overlay.ui["images"]) == 2
    values = overlay.ui["portraitos"][0]["values"]
    assert values["focus_distance_m"][0] == pytest.approx(2.0, rel=0.05) and values["focus_how"][0]
    assert overlay.ui["portraitos"][0]["labels"]["focus_distance_m"].startswith("focus 2")


# --- what the dropdowns list ----------------------------------------------------------------------


def test_depth_load_lists_depth_files_not_photos(comfy_nodes, comfy_dirs, tmp_path):
    input_dir, _ = comfy_dirs
    d = (np.random.rand(16, 16) * 3000 + 500).astype(np.uint16)
    Image.fromarray(d).save(input_dir / "depth16.png")
    Image.fromarray((np.random.rand(16, 16, 3) * 255).astype(np.uint8)).save(input_dir / "photo.png")
    np.save(input_dir / "metres.npy", np.ones((16, 16), np.float32))
    np.save(input_dir / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(input_dir / "rgb.npy", np.ones((16, 16, 3), np.float32))
    (input_dir / "fake.exr").write_bytes(b"not an exr")
    options = comfy_nodes.NODE_CLASS_MAPPINGS["DepthLoad"].INPUT_TYPES()["required"]["depth"][1]["options"]
    assert {"depth16.png", "metres.npy"} <= set(options)
    assert not {"photo.png", "objects.npy", "rgb.npy", "fake.exr"} & set(options)
    assert not is_depth_file(tmp_path / "missing.npy")


def test_identity_loader_lists_only_installed_face_models(comfy_nodes, tmp_path, monkeypatch):
    cls = comfy_nodes.NODE_CLASS_MAPPINGS["IdentityLoader"]
    module = sys.modules[cls.__module__]
    monkeypatch.setattr(module, "insightface_roots", lambda: [tmp_path])
    options = cls.INPUT_TYPES()["required"]["face_model"][1]["options"]
    assert options == [module.NO_FACE_MODEL]
    tip = cls.INPUT_TYPES()["required"]["face_model"][1]["tooltip"]
    assert "antelopev2" in tip and "https://" in tip and "models/insightface/models" in tip
    with pytest.raises(Exception, match="no InsightFace model is installed"):
        module.face_pack(module.NO_FACE_MODEL, "CPU")
    # a saved workflow's "antelopev2" gets the same advice as the empty list: the folder and the source
    for saved in ("antelopev2", module.NO_FACE_MODEL):
        message = cls.validate_inputs(mode="create", name="me", face_model=saved, provider="CPU", image=None)
        assert isinstance(message, str) and message.startswith("no InsightFace model is installed"), message
        assert str(tmp_path / "models" / "antelopev2") in message and "https://" in message, message
    # loading a stored identity needs no face model
    loading = cls.validate_inputs(mode="load", stored_identity="x", face_model="antelopev2", provider="CPU")
    assert "InsightFace" not in str(loading)
    pack = tmp_path / "models" / "buffalo_l"
    pack.mkdir(parents=True)
    (pack / "det_10g.onnx").write_bytes(b"")
    assert cls.INPUT_TYPES()["required"]["face_model"][1]["options"] == ["buffalo_l"]


# --- previews and read-outs of the depth and light nodes ----------------------------------------


def test_depth_estimate_and_lighting_preview_and_read_out(comfy_nodes):
    photo = torch.from_numpy(data.astronaut()[::2, ::2].copy()).float()[None] / 255
    out = run_node(comfy_nodes.NODE_CLASS_MAPPINGS["DepthEstimate"], image=photo)
    assert len(out.ui["images"]) == 2  # depth and matte
    readout = out.ui["portraitos"][0]
    assert readout["values"]["source"] == "assumed" and readout["values"]["far_m"] == pytest.approx(6.0, rel=0.05)
    assert readout["labels"]["depth"].startswith("depth ") and "subject" in readout["labels"]["subject_mask"]
    assert readout["values"]["subject_distance_from"].startswith(
        ("iris diameter", "interpupillary distance", "face box")
    )
    lit = run_node(comfy_nodes.NODE_CLASS_MAPPINGS["LightingTint"], image=photo, preset="warm cinematic")
    values = lit.ui["portraitos"][0]["values"]
    assert len(lit.ui["images"]) == 1 and values["key_temperature_k"] > 0 and values["ambient_temperature_k"] > 0
    assert "K" in lit.ui["portraitos"][0]["labels"]["lighting"]


# --- progress -------------------------------------------------------------------------------------


def test_lens_bokeh_ticks_before_rendering_and_ends_full():
    """Ticks come from the pipeline's own steps (depth clean-up, auto focus) and the renderer's set-up
    before its first layer; each is a Cancel point; the bar ends at its maximum."""
    ticks = []
    img = torch.rand(2, 64, 64, 3)
    depth = _depth_for_lens().metres[:, :, :48].expand(2, -1, -1)
    render_lens_bokeh(img, depth, LensSettings(85, 1.8, 0.0), progress=lambda d, t: ticks.append((d, t)))
    assert len(ticks) >= 2 + 2 + 2  # pipeline steps, per image: CoCs known and layers assigned
    assert ticks[0][0] == 0 and ticks[-1][0] == ticks[-1][1]
    assert all(b[0] >= a[0] for a, b in zip(ticks, ticks[1:])), "the bar never goes back"

    calls = []

    def cancel():
        calls.append(1)
        raise InterruptedError

    with pytest.raises(InterruptedError):
        render_lens_bokeh(img, depth, LensSettings(85, 1.8, 0.0), check_interrupt=cancel)
    assert len(calls) == 1  # honoured at the first step, before any rendering


def test_depth_estimate_ticks_within_each_image(tmp_path):
    """With a network, DepthEstimate ticks after inference and after each band of the edge-aware
    upsampling (Cancel is honoured there too), not only once per image."""
    from tiny_depth_models import save_hf_folder, tiny_depth_anything

    from portraitos.engine.depth import EstimateSettings, estimate_depth, load_hf_folder

    net = load_hf_folder(save_hf_folder(tiny_depth_anything(), tmp_path / "tiny-da", 518))
    photo = torch.from_numpy(data.astronaut()).float()[None] / 255  # 512²: two bands of 256 rows
    ticks = []
    estimate_depth(photo, EstimateSettings(), net, progress=lambda d, t: ticks.append((d, t)))
    assert len(ticks) >= 1 + 2 + 1, ticks  # inference, two bands, done
    assert ticks[-1][0] == ticks[-1][1] and all(b[0] >= a[0] for a, b in zip(ticks, ticks[1:]))
    calls = []

    def cancel_in_second_band():
        calls.append(1)
        if len(calls) == 3:  # loop start, after inference, after the first band
            raise InterruptedError

    with pytest.raises(InterruptedError):
        estimate_depth(photo, EstimateSettings(), net, check_interrupt=cancel_in_second_band)


# --- live: previews and read-outs in /history -----------------------------------------------------


@pytest.mark.live
def test_previews_and_readouts_in_history(comfy_server):
    """LoadImage → DepthEstimate (85 mm) → LightingTint → LensBokeh at 35 mm APS-C (overlay on) and,
    from DepthEstimate's depth picture as another pack would give it, DepthFromImage → LensBokeh."""
    from samples import write_astronaut

    write_astronaut(comfy_server.input_dir)
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "astronaut.png"}},
        "2": {"class_type": "DepthEstimate", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "LightingTint", "inputs": {"image": ["1", 0], "preset": "warm cinematic"}},
        "4": {
            "class_type": "LensBokeh",
            "inputs": {
                "image": ["3", 0],
                "depth": ["2", 0],
                "focal_length_mm": 35.0,
                "sensor": "APS-C 23.5x15.6",
                "lighting": ["3", 1],
                "preview": "result + in-focus overlay",
            },
        },
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "editor"}},
        "6": {
            "class_type": "DepthFromImage",
            "inputs": {"depth_image": ["2", 1], "image": ["1", 0], "far_distance_m": 6.0},
        },
        "7": {"class_type": "LensBokeh", "inputs": {"image": ["1", 0], "depth": ["6", 0]}},
        "8": {"class_type": "SaveImage", "inputs": {"images": ["7", 0], "filename_prefix": "editor_di"}},
    }
    # the editor fills in every widget; over the API the schema's defaults are sent
    info = comfy_server.get_json("/object_info")
    for node in graph.values():
        spec = info[node["class_type"]]["input"].get("required", {})
        for name, s in spec.items():
            if name not in node["inputs"] and len(s) > 1 and "default" in s[1]:
                node["inputs"][name] = s[1]["default"]
    hist, _ = comfy_server.run_prompt(graph)
    assert hist["status"]["status_str"] == "success", hist["status"]
    out = hist["outputs"]

    def temps(node):
        return [i for i in out[node].get("images", []) if i["type"] == "temp"]

    assert len(temps("2")) == 2 and len(temps("3")) == 1 and len(temps("4")) == 2 and len(temps("6")) == 2
    depth_readout = out["2"]["portraitos"][0]
    assert depth_readout["values"]["focal_length_mm"] == 85.0 and depth_readout["labels"]["depth"]
    lens_readout = out["4"]["portraitos"][0]
    assert any("focal length 85 mm (here 35 mm)" in w for w in lens_readout["warnings"])
    assert lens_readout["values"]["focus_how"][0] in ("eyes", "focus mask", "nearest central region", "manual")
    assert "K" in out["3"]["portraitos"][0]["labels"]["lighting"]
    di = out["6"]["portraitos"][0]["values"]
    assert di["source"] == "calibrated"
    assert di["subject_distance_from"].startswith(("iris diameter", "interpupillary distance"))
    # the depth from the picture agrees with DepthEstimate's own on the subject's distance
    assert di["subject_distance_m"] == pytest.approx(depth_readout["values"]["subject_distance_m"], rel=0.02)
    assert out["7"]["portraitos"][0]["warnings"] == []
    for node in ("2", "4", "6"):
        for ref in temps(node):
            assert comfy_server.get(f"/view?filename={ref['filename']}&type=temp")[:4] == b"\x89PNG"


# --- registry metadata and where model files come from -------------------------------------------


def test_registry_metadata_and_model_links(comfy_nodes):
    import tomllib
    from comfy_host import comfyui_dir

    from portraitos.nodes.model_sources import DEPTH_SOURCES, FACE_SOURCES, README_MODELS

    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    comfy = meta["tool"]["comfy"]
    import re

    tested = re.search(r'__version__ = "([^"]+)"', (comfyui_dir() / "comfyui_version.py").read_text()).group(1)
    assert comfy["requires-comfyui"] == f">={tested}"  # the version the tests run against
    assert comfy["Icon"].startswith("https://") and (REPO / comfy["Icon"].split("/main/")[1]).is_file()
    urls = meta["project"]["urls"]
    assert urls["Issues"].endswith("/issues") and urls["Documentation"].startswith("https://")
    readme = (REPO / "README.md").read_text()
    assert "### Model files" in readme and README_MODELS.endswith("#model-files")
    for src in DEPTH_SOURCES + FACE_SOURCES:
        assert src.page in readme, src.name
        assert src.licence.split(" ")[0] in readme, src.name
