"""A real ComfyUI server subprocess driven over its HTTP API and websocket."""

import io
import json
import urllib.parse
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from portraitos.headless.server import PromptRejected
from portraitos.validation.samples import write_motorcycle

REPO = Path(__file__).resolve().parents[2]
API = REPO / "workflows" / "api"
# a real photo with measured depth (Middlebury 2014, written by the tests; not shipped)
MEASURED_DEPTH_GRAPH = {
    "1": {"class_type": "LoadImage", "inputs": {"image": "motorcycle.png"}},
    "2": {"class_type": "DepthLoad", "inputs": {"depth": "motorcycle_depth.npy", "scale": 1.0}},
    "3": {
        "class_type": "LensBokeh",
        "inputs": {
            "image": ["1", 0],
            "depth": ["2", 0],
            "focal_length_mm": 85.0,
            "f_number": 1.8,
            "focus_distance_m": 0.0,
            "sensor": "full frame 36x24",
            "aperture_blades": 0,
            "blade_rotation_deg": 0.0,
            "blade_curvature": 0.0,
            "highlight_threshold": 0.9,
            "highlight_boost": 8.0,
        },
    },
    "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "PortraitOS/bokeh_85mm_f1.8"}},
}


def test_object_info_lists_nodes_with_inputs(comfy_server):
    info = comfy_server.get_json("/object_info")
    for node in ("DepthLoad", "LensBokeh", "LightingTint"):
        assert node in info, f"{node} missing from /object_info"
    lb = info["LensBokeh"]
    assert lb["category"] == "PortraitOS/Lens"
    assert set(lb["input"]["optional"]) == {
        "focus_mask",
        "lighting",
        "focus_point",
        "depth_lens",
        "preview",
        "lens_profile",
    }
    assert lb["input"]["required"]["depth"][0] == "DEPTH"
    assert lb["output"] == ["IMAGE", "MASK", "MASK", "FLOAT"]
    assert info["DepthLoad"]["output"][0] == "DEPTH"
    lt = info["LightingTint"]
    assert lt["output"] == ["IMAGE", "LIGHTING"]
    assert "warm cinematic" in lt["input"]["required"]["preset"][1]["options"]


def _saved(hist) -> list[dict]:
    """Images SaveImage wrote (the nodes' own previews are temp files beside them)."""
    return [i for out in hist["outputs"].values() for i in out.get("images", []) if i["type"] == "output"]


def _view(server, img_ref) -> np.ndarray:
    q = urllib.parse.urlencode({k: img_ref[k] for k in ("filename", "subfolder", "type")})
    return np.asarray(Image.open(io.BytesIO(server.get(f"/view?{q}"))).convert("RGB"))


def test_bad_inputs_get_clear_errors(comfy_server):
    write_motorcycle(comfy_server.input_dir)
    graph = MEASURED_DEPTH_GRAPH
    hostile = json.loads(json.dumps(graph))
    hostile["2"]["inputs"]["depth"] = "../../etc/passwd"
    with pytest.raises(PromptRejected) as e:
        comfy_server.run_prompt(hostile)
    assert e.value.status == 400
    assert "DepthLoad" in json.dumps(e.value.body) or "depth" in json.dumps(e.value.body)

    too_close = json.loads(json.dumps(graph))
    too_close["3"]["inputs"]["focus_distance_m"] = 0.05
    with pytest.raises(PromptRejected) as e:
        comfy_server.run_prompt(too_close)
    assert "focal length" in json.dumps(e.value.body)


def test_nan_depth_is_cleaned_not_propagated(comfy_server):
    write_motorcycle(comfy_server.input_dir)
    d = np.load(comfy_server.input_dir / "motorcycle_depth.npy")
    d[100:140, 100:200] = np.nan
    d[300:310, :] = -1.0
    d[0:5, 0:5] = 0.0
    np.save(comfy_server.input_dir / "dirty_depth.npy", d)
    graph = json.loads(json.dumps(MEASURED_DEPTH_GRAPH))
    graph["2"]["inputs"]["depth"] = "dirty_depth.npy"
    hist, _ = comfy_server.run_prompt(graph)
    assert hist["status"]["status_str"] == "success"
    arr = _view(comfy_server, _saved(hist)[0])
    assert arr.shape[:2] == d.shape and arr.mean() > 20
    assert "replaced" in comfy_server.log_tail(20000)


def test_editor_extension_is_served(comfy_server):
    exts = comfy_server.get_json("/extensions")
    ours = [e for e in exts if "PortraitOS" in e and e.endswith("/portraitos.js")]
    assert ours, exts
    js = comfy_server.get(ours[0]).decode()
    assert "registerExtension" in js and "LensBokeh" in js


def test_portrait_from_one_selfie_over_http(comfy_server):
    """The product path with no downloaded weights: photo uploaded over HTTP -> DepthEstimate (portrait
    prior) -> LightingTint -> LensBokeh."""
    from skimage import data

    buf = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buf, format="PNG")
    uploaded = comfy_server.upload("selfie_upload.png", buf.getvalue())
    assert uploaded["name"] == "selfie_upload.png"
    graph = json.loads((API / "portrait_85mm_f1.8_warm.json").read_text())
    graph["1"]["inputs"]["image"] = "selfie_upload.png"
    hist, messages = comfy_server.run_prompt(graph)
    assert hist["status"]["status_str"] == "success", hist["status"]
    text = " ".join(t for out in hist["outputs"].values() for t in out.get("text", []))
    assert "portrait prior" in text and "(eyes)" in text  # focused on the eyes the prior found
    img = _view(comfy_server, hist["outputs"]["5"]["images"][0])  # SaveImage (the others are previews)
    src = data.astronaut().astype(np.float32)
    face_out, face_in = img[100:150, 200:250].astype(np.float32), src[100:150, 200:250]
    bg_detail = np.abs(np.diff(img[20:80, 400:500].astype(np.float32), axis=1)).mean()
    assert bg_detail < 0.6 * np.abs(np.diff(src[20:80, 400:500], axis=1)).mean()  # background blurred
    assert face_out[..., 0].mean() > face_out[..., 2].mean() + 20  # warm key on the face
    assert np.abs(np.diff(face_out, axis=1)).mean() > 0.8 * np.abs(np.diff(face_in, axis=1)).mean()  # face sharp


def test_depth_estimate_with_a_model_file_over_http(comfy_server):
    from portraitos.testing.tiny_depth_models import save_hf_folder, tiny_depth_anything
    from portraitos.validation.samples import write_astronaut

    write_astronaut(comfy_server.input_dir)
    save_hf_folder(tiny_depth_anything(), comfy_server.model_folders["depth"] / "tiny-da-live", 98)
    info = comfy_server.get_json("/object_info/DepthEstimate")["DepthEstimate"]
    assert "depth/tiny-da-live" in info["input"]["required"]["model"][1]["options"]
    graph = json.loads((API / "portrait_85mm_f1.8_warm.json").read_text())
    graph["2"]["inputs"]["model"] = "depth/tiny-da-live"
    hist, _ = comfy_server.run_prompt(graph)
    assert hist["status"]["status_str"] == "success", hist["status"]
    missing = json.loads(json.dumps(graph))
    missing["2"]["inputs"]["model"] = "depth/not-installed"
    with pytest.raises(PromptRejected) as e:
        comfy_server.run_prompt(missing)
    assert "not-installed" in json.dumps(e.value.body)


def test_identity_created_in_one_prompt_loads_by_name_in_the_next(comfy_server):
    from portraitos.testing.tiny_face_models import build_pack
    from portraitos.validation.samples import write_astronaut

    write_astronaut(comfy_server.input_dir)
    build_pack(comfy_server.model_folders["insightface"])
    info = comfy_server.get_json("/object_info/IdentityLoader")["IdentityLoader"]
    req = info["input"]["required"]
    assert "tinypack" in req["face_model"][1]["options"]
    assert req["mode"][1]["options"] == ["create", "update", "load", "restore previous"]
    assert info["output"] == ["IDENTITY", "IMAGE", "IMAGE"]
    create = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "astronaut.png"}},
        "2": {
            "class_type": "IdentityLoader",
            "inputs": {
                "mode": "create",
                "name": "live-astro",
                "stored_identity": "(none stored yet)",
                "face_model": "tinypack",
                "provider": "CPU",
                "face_index": -1,
                "image": ["1", 0],
            },
        },
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 1]}},
    }
    stored = comfy_server.get_json("/object_info/IdentityLoader")["IdentityLoader"]["input"]["required"][
        "stored_identity"
    ][1]["options"]
    create["2"]["inputs"]["stored_identity"] = stored[0]
    hist, _ = comfy_server.run_prompt(create)
    assert hist["status"]["status_str"] == "success", hist["status"]
    assert (comfy_server.model_folders["identities"] / "live-astro.safetensors").is_file()
    stored = comfy_server.get_json("/object_info/IdentityLoader")["IdentityLoader"]["input"]["required"][
        "stored_identity"
    ][1]["options"]
    assert "live-astro" in stored
    load = {
        "2": {
            "class_type": "IdentityLoader",
            "inputs": {
                "mode": "load",
                "name": "x",
                "stored_identity": "live-astro",
                "face_model": "tinypack",
                "provider": "CPU",
                "face_index": -1,
            },
        },
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 1]}},
    }
    hist, _ = comfy_server.run_prompt(load)
    assert hist["status"]["status_str"] == "success", hist["status"]
    text = " ".join(t for o in hist["outputs"].values() for t in o.get("text", []))
    assert "live-astro" in text and "loaded" in text
