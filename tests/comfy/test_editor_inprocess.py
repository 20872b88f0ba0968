"""What artists see in the editor: tooltips on every input and output, names the node search finds,
previews and read-outs on the nodes (in-process and in /history), depth pictures from other packs
made metric, the lens a depth assumed, depth files only in DepthLoad, installed face models only,
progress from the first moment of LensBokeh."""

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from portraitos.engine.depth import is_depth_file
from portraitos.testing.comfy_host import run_node
from portraitos.testing.editor_expectations import (
    ALL_NODE_IDS,
    check_search_and_categories,
    check_tooltips,
    depth_for_lens,
    disparity_picture,
    scene_depth,
)

REPO = Path(__file__).resolve().parents[2]


def test_object_info_in_process_has_tooltips_search_words_and_groups(comfy_nodes):
    info = {n: comfy_nodes.NODE_CLASS_MAPPINGS[n].GET_NODE_INFO_V1() for n in ALL_NODE_IDS}
    info = json.loads(json.dumps(info, default=str))  # as /object_info serialises it
    check_tooltips(info)
    check_search_and_categories(info)


def test_depth_from_image_node_in_process(comfy_nodes):
    cls = comfy_nodes.NODE_CLASS_MAPPINGS["DepthFromImage"]
    d = scene_depth()
    picture = disparity_picture(d)[None, ..., None].expand(1, -1, -1, 3).contiguous()
    out = run_node(cls, depth_image=picture, calibration="near/far distances", near_distance_m=1.2, far_distance_m=9.0)
    dm, preview, mask = out.args
    assert torch.allclose(dm.metres[0], d, rtol=1e-4)
    assert preview.shape == (1, *d.shape, 3) and mask.shape == (1, *d.shape)
    assert len(out.ui["images"]) == 2 and out.ui["portraitos"][0]["labels"]["depth"].startswith("depth 1.2 m")
    assert isinstance(
        cls.validate_inputs(calibration="near/far distances", near_distance_m=0.0, far_distance_m=6.0), str
    )  # near distance missing
    assert "calibration" in cls.validate_inputs(calibration="sideways", near_distance_m=1.0, far_distance_m=6.0)
    assert "far_distance_m" in cls.validate_inputs(calibration="face", near_distance_m=0.0, far_distance_m=float("nan"))
    assert cls.validate_inputs(calibration="face", near_distance_m=0.0, far_distance_m=6.0) is True
    with pytest.raises(ValueError, match="depth_image"):
        run_node(cls)


def test_lens_bokeh_warns_on_a_different_lens_and_follows_on_request(comfy_nodes, caplog):
    cls = comfy_nodes.NODE_CLASS_MAPPINGS["LensBokeh"]
    img = torch.rand(1, 48, 64, 3)
    kw = dict(image=img, depth=depth_for_lens(), f_number=1.8, focus_distance_m=2.0)
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
    kw = dict(image=torch.rand(1, 48, 64, 3), depth=depth_for_lens(), focus_distance_m=0.0)
    plain = run_node(cls, **kw)
    overlay = run_node(cls, preview="result + in-focus overlay", **kw)
    assert len(plain.ui["images"]) == 1 and len(overlay.ui["images"]) == 2
    values = overlay.ui["portraitos"][0]["values"]
    assert values["focus_distance_m"][0] == pytest.approx(2.0, rel=0.05) and values["focus_how"][0]
    assert overlay.ui["portraitos"][0]["labels"]["focus_distance_m"].startswith("focus 2")


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
    from portraitos.services import face_packs as module

    cls = comfy_nodes.NODE_CLASS_MAPPINGS["IdentityLoader"]
    monkeypatch.setattr(module, "insightface_roots", lambda: [tmp_path])
    options = cls.INPUT_TYPES()["required"]["face_model"][1]["options"]
    assert options == [module.NO_FACE_MODEL]
    tip = cls.INPUT_TYPES()["required"]["face_model"][1]["tooltip"]
    assert "antelopev2" in tip and "https://" in tip and "models/insightface/models" in tip
    with pytest.raises(Exception, match="no InsightFace model is installed"):
        module.face_pack(module.NO_FACE_MODEL, "CPU")
    # a saved workflow's "antelopev2" gets the same advice as the empty list: the folder and the source
    # (raised, so that ComfyUI reports it once, not once per input)
    from portraitos.services.validation import MissingModel

    for saved in ("antelopev2", module.NO_FACE_MODEL):
        with pytest.raises(MissingModel) as raised:
            cls.validate_inputs(mode="create", name="me", face_model=saved, provider="CPU", image=None)
        message = str(raised.value)
        assert message.startswith("no InsightFace model is installed"), message
        assert str(tmp_path / "models" / "antelopev2") in message and "https://" in message, message
    # loading a stored identity needs no face model
    with pytest.raises(MissingModel) as raised:
        cls.validate_inputs(mode="load", stored_identity="x", face_model="antelopev2", provider="CPU")
    assert "no such stored identity" in str(raised.value) and "InsightFace" not in str(raised.value)
    pack = tmp_path / "models" / "buffalo_l"
    pack.mkdir(parents=True)
    (pack / "det_10g.onnx").write_bytes(b"")
    assert cls.INPUT_TYPES()["required"]["face_model"][1]["options"] == ["buffalo_l"]


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


def test_registry_metadata_and_model_links(comfy_nodes):
    import tomllib

    from portraitos.headless.server import comfyui_dir
    from portraitos.services.model_sources import DEPTH_SOURCES, FACE_SOURCES, README_MODELS

    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    comfy = meta["tool"]["comfy"]
    import re

    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    running = re.search(r'__version__ = "([^"]+)"', (comfyui_dir() / "comfyui_version.py").read_text()).group(1)
    # a lower bound only (the oldest ComfyUI the suite runs, the one scripts/provision.sh pins), which the
    # ComfyUI these tests run on (any version, COMFYUI_DIR) satisfies
    required = comfy["requires-comfyui"]
    assert re.fullmatch(r">=\d+\.\d+\.\d+", required), required
    assert Version(running) in SpecifierSet(required), f"ComfyUI {running} is older than the pack's {required}"
    assert f"ComfyUI {required[2:]}" in (REPO / "README.md").read_text()  # the README names the versions run
    assert comfy["Icon"].startswith("https://") and (REPO / comfy["Icon"].split("/main/")[1]).is_file()
    urls = meta["project"]["urls"]
    assert urls["Issues"].endswith("/issues") and urls["Documentation"].startswith("https://")
    readme = (REPO / "README.md").read_text()
    assert "### Model files" in readme and README_MODELS.endswith("#model-files")
    for src in DEPTH_SOURCES + FACE_SOURCES:
        assert src.page in readme, src.name
        assert src.licence.split(" ")[0] in readme, src.name
