"""A missing model is reported once, on its node, over HTTP, naming the folder, the method and where to
get it; the selfie template's message names InstantID's files too.

ComfyUI 0.3.75 repeats a message ``validate_inputs`` returns once per input the function takes (seven
times, about 5 kB, on IdentityLoader); the pack raises a missing model instead, which ComfyUI reports
once (services/validation.py). The server here is this module's own, with empty model folders (the
session's server gains tiny models as other tests install them).
"""

from __future__ import annotations

import json

import pytest

from portraitos.headless.server import ComfyServer
from portraitos.testing.shipped_workflows import TEMPLATES

FOLDERS = ("depth", "depthanything", "identities", "insightface", "checkpoints", "ipadapter", "instantid", "controlnet")


@pytest.fixture(scope="module")
def comfy_server(tmp_path_factory):
    """A live ComfyUI server with this pack and no model files at all; stopped at the end."""
    work = tmp_path_factory.mktemp("bare_server")
    models = {name: work / "models" / name for name in FOLDERS}
    for folder in models.values():
        folder.mkdir(parents=True)
    server = ComfyServer(work, model_folders=models).start()
    try:
        yield server
    finally:
        server.stop()


def _rejected(comfy_server, graph: dict) -> dict:
    status, body = comfy_server.post_json("/prompt", {"prompt": graph})
    assert status == 400, body
    return body


def _errors(body: dict, class_type: str) -> list[dict]:
    (node,) = [v for v in body["node_errors"].values() if v["class_type"] == class_type]
    return node["errors"]


def test_selfie_template_names_each_missing_model_once(comfy_server):
    graph = json.loads((TEMPLATES / "api" / "selfie_85mm_f1.8_warm.json").read_text())
    body = _rejected(comfy_server, graph)
    (face,) = _errors(body, "IdentityLoader")  # one error, not one per input
    text = face["details"]
    assert text.startswith("no InsightFace model is installed (face_model 'antelopev2')"), text
    assert "models/insightface/models/antelopev2" in text and "InstantID" in text  # folder and method
    # the selfie template's one message also names InstantID's own files, with their folders and page
    assert "ip-adapter.bin" in text and "instantid" in text and "IdentityNet" in text, text
    assert "https://huggingface.co/InstantX/InstantID" in text
    (generate,) = _errors(body, "PortraitGenerate")
    assert generate["details"].startswith("method InstantID needs files that are not installed"), generate
    assert "ip-adapter.bin" in generate["details"] and "controlnet" in generate["details"]
    (checkpoint,) = _errors(body, "CheckpointLoaderSimple")  # ComfyUI's own, once
    assert "sd_xl_base_1.0.safetensors" in checkpoint["details"]
    # the whole answer: three short messages, not the same one seven times (≈5 kB on IdentityLoader alone)
    assert sum(len(e["details"]) for v in body["node_errors"].values() for e in v["errors"]) < 4000
    details = [e["details"] for v in body["node_errors"].values() for e in v["errors"]]
    assert sum(d.count("no InsightFace model is installed") for d in details) == 1


@pytest.mark.parametrize("mode", ["load", "restore previous"])
def test_loading_a_stored_identity_needs_no_face_model(comfy_server, mode):
    graph = json.loads((TEMPLATES / "api" / "identity_load.json").read_text())
    loader = next(n for n in graph.values() if n["class_type"] == "IdentityLoader")
    loader["inputs"].update(mode=mode, face_model="antelopev2", stored_identity="nobody")
    body = _rejected(comfy_server, graph)  # refused for the missing stored identity only
    (error,) = _errors(body, "IdentityLoader")
    assert "no such stored identity" in error["details"] and "InsightFace" not in error["details"]


def test_a_missing_depth_model_is_reported_once(comfy_server):
    graph = json.loads((TEMPLATES / "api" / "portrait_85mm_f1.8_warm.json").read_text())
    depth = next(n for n in graph.values() if n["class_type"] == "DepthEstimate")
    depth["inputs"]["model"] = "depth/Depth-Anything-V2-Small-hf"
    body = _rejected(comfy_server, graph)
    (error,) = _errors(body, "DepthEstimate")
    assert "models/depth/Depth-Anything-V2-Small-hf/" in error["details"] and "model.safetensors" in error["details"]
