"""IdentityLoader's engine: InsightFace's real loading and inference on small ONNX models built here,
the identity file format, hostile names, corrupt files, and loading without InsightFace."""

import sys

import pytest
from skimage import data

from portraitos.engine.faces import analyse, load_pack
from portraitos.engine.identity import (
    build_identity,
    load_identity,
    merge,
    save_identity,
)
from portraitos.testing.tiny_face_models import build_pack

ASTRONAUT = data.astronaut()


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    root = tmp_path_factory.mktemp("insightface")
    build_pack(root)
    return load_pack(root, "tinypack", "CPU")


def test_identity_loader_restores_the_previous_version(pack, tmp_path, monkeypatch, comfy_nodes):
    from portraitos.testing.comfy_host import run_node

    node = comfy_nodes.NODE_CLASS_MAPPINGS["IdentityLoader"]
    module = sys.modules[node.__module__]
    monkeypatch.setattr(module, "identities_dir", lambda: tmp_path)
    r1, _, _ = analyse(pack, ASTRONAUT)
    path = save_identity(build_identity("anna", [r1], "tinypack", []), tmp_path, overwrite=False)
    save_identity(merge(load_identity(path), build_identity("anna", [r1], "tinypack", [])), tmp_path, overwrite=True)
    assert load_identity(path).count == 2
    assert node.validate_inputs(mode="restore previous", stored_identity="anna", face_model="none installed") is True
    out = run_node(node, mode="restore previous", stored_identity="anna", name="anna")
    assert out.result[0].count == 1 and load_identity(path).count == 1
    assert "restored" in out.ui["text"][0]
