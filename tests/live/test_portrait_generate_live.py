"""PortraitGenerate over a live ComfyUI server: a graph of stock ComfyUI nodes and the pack's, queued
through /prompt, on a tiny checkpoint that the server's own CheckpointLoaderSimple loads."""

import io
import json
import urllib.parse

import numpy as np
import pytest
import torch
from PIL import Image

from portraitos.headless.server import PromptRejected


def _view(server, ref) -> np.ndarray:
    q = urllib.parse.urlencode({k: ref[k] for k in ("filename", "subfolder", "type")})
    return np.asarray(Image.open(io.BytesIO(server.get(f"/view?{q}"))).convert("RGB"))


def test_keep_face_batch_over_http(comfy_server, comfy_nodes, tmp_path):
    # comfy_nodes: ComfyUI imported here too, for writing the checkpoint with its own writer
    from skimage import data

    from portraitos.engine.faces import analyse, load_pack
    from portraitos.engine.generation import frame_photo, keep_mask
    from portraitos.engine.identity import build_identity, save_identity
    from portraitos.testing.tiny_diffusion_models import build_checkpoint
    from portraitos.testing.tiny_face_models import build_pack
    from portraitos.validation.samples import write_astronaut

    build_checkpoint(comfy_server.model_folders["checkpoints"] / "tiny_live_sd15.safetensors", "sd15")
    build_pack(tmp_path, "buffalo_l")
    rec, warn, _ = analyse(load_pack(tmp_path, "buffalo_l"), data.astronaut())
    ident = build_identity("live-gen", [rec], "buffalo_l", warn)
    save_identity(ident, comfy_server.model_folders["identities"], overwrite=True)
    photo = write_astronaut(comfy_server.input_dir)
    info = comfy_server.get_json("/object_info")
    assert info["PortraitGenerate"]["output"] == ["IMAGE", "LATENT", "STRING"]
    assert info["IdentityScore"]["output"] == ["IMAGE", "FLOAT", "MASK", "STRING"]
    face_model = info["IdentityLoader"]["input"]["required"]["face_model"][1]["options"][0]
    graph = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "tiny_live_sd15.safetensors"}},
        "2": {
            "class_type": "IdentityLoader",
            "inputs": {
                "mode": "load",
                "name": "x",
                "stored_identity": "live-gen",
                "face_model": face_model,
                "provider": "CPU",
                "face_index": -1,
            },
        },
        "3": {"class_type": "LoadImage", "inputs": {"image": photo}},
        "4": {
            "class_type": "PortraitGenerate",
            "inputs": {
                "model": ["1", 0],
                "clip": ["1", 1],
                "vae": ["1", 2],
                "identity": ["2", 0],
                "photo": ["3", 0],
                "method": "keep face",
                "style": "night city",
                "prompt": "",
                "negative": "",
                "identity_strength": 0.8,
                "seed": 3,
                "steps": 2,
                "cfg": 4.0,
                "sampler_name": "euler",
                "scheduler": "normal",
                "width": 64,
                "height": 64,
                "batch_size": 2,
                "use_age_gender": False,
                "adapter_file": "auto",
                "controlnet_file": "auto",
                "controlnet_strength": 0.8,
                "lora_strength": 0.6,
            },
        },
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "portrait"}},
    }
    # ComfyUI 0.3.75 checks no V3 combo itself: the node's own validation refuses unknown choices and
    # out-of-range or non-finite numbers before anything runs, naming the input
    for name, bad in (
        ("method", "swap faces"),
        ("style", "noir"),
        ("sampler_name", "warp"),
        ("batch_size", 21),
        ("cfg", float("nan")),
        ("identity_strength", -1.5),  # below cubiq's range, -1 .. 5
    ):
        wrong = json.loads(json.dumps(graph))
        wrong["4"]["inputs"][name] = bad
        with pytest.raises(PromptRejected) as e:
            comfy_server.run_prompt(wrong)
        assert e.value.status == 400 and name in json.dumps(e.value.body), (name, e.value.body)
    hist, messages = comfy_server.run_prompt(graph)
    assert hist["status"]["status_str"] == "success", hist["status"]
    progress = [m["data"] for m in messages if m["type"] == "progress" and m["data"].get("node") == "4"]
    assert progress and progress[-1]["value"] == progress[-1]["max"] == 2  # one bar over the whole batch
    saved = hist["outputs"]["5"]["images"]
    assert len(saved) == 2
    got = [_view(comfy_server, s) for s in saved]
    # the photo as this ComfyUI's LoadImage decodes it (PIL up to 0.20, PyAV since 0.21: values can differ
    # from PIL's), saved straight back: the face's pixels must survive the graph exactly as decoded
    decoded, _ = comfy_server.run_prompt(
        {
            "1": {"class_type": "LoadImage", "inputs": {"image": photo}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "decoded"}},
        }
    )
    host_photo = _view(comfy_server, decoded["outputs"]["2"]["images"][0])
    assert np.abs(host_photo.astype(int) - data.astronaut().astype(int)).mean() < 2.0
    framed = frame_photo(
        torch.from_numpy(host_photo.copy()).float() / 255, tuple(ident.tensors["bbox"][0].tolist()), 64, 64
    )
    keep = (keep_mask(framed.box, 64, 64) >= 1).numpy()
    expected = np.clip(255.0 * framed.image.numpy(), 0, 255).astype(np.uint8)  # as SaveImage writes it
    for g in got:
        assert g.shape == (64, 64, 3)
        assert np.array_equal(g[keep], expected[keep])  # the face's own pixels survive the whole graph
    assert not np.array_equal(got[0], got[1])
