"""What the previous release wrote still loads: a saved workflow (editor format) and a stored identity
file, both written by the release before the current layout (``tests/data/previous_release/``)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from portraitos.engine.identity import load_identity
from portraitos.headless.workflow_format import ui_to_api
from portraitos.headless.workflow_names import resolve_workflow
from portraitos.testing.shipped_workflows import node_info

REPO = Path(__file__).resolve().parents[2]
PREVIOUS = REPO / "tests" / "data" / "previous_release"

# Values the templates changed on purpose since that release (the old value is what the old file must hold):
# the selfie templates name InstantID's files so the frontend's missing-models list can offer them, and
# LensBokeh's highlight_boost is now the light brightness in multiples of white (an old graph's 8 still runs,
# as lights 8x white).
TEMPLATE_CHANGES = {
    ("PortraitGenerate", "adapter_file"): "auto",
    ("PortraitGenerate", "controlnet_file"): "auto",
    ("LensBokeh", "highlight_boost"): 8.0,
}


def test_a_previous_release_workflow_converts_and_validates(comfy_nodes):
    from portraitos.services.validation import schema  # after ComfyUI is imported (comfy_nodes)

    info = node_info(comfy_nodes)
    for path in sorted(PREVIOUS.glob("*.json")):
        api = ui_to_api(json.loads(path.read_text()), info)
        # the shipped workflow of that name now (renamed since: the headless client's map finds it)
        current_path = resolve_workflow(REPO / "workflows" / "api" / path.name, warn=False)
        current = json.loads(current_path.read_text())
        assert api.keys() == current.keys(), path.name
        for node_id, node in current.items():
            saved = api[node_id]["inputs"]
            # inputs added since: optional, and the current file holds their default (what the old file means)
            cls = comfy_nodes.NODE_CLASS_MAPPINGS[node["class_type"]]
            optional = cls.INPUT_TYPES().get("optional", {})
            for name, value in node["inputs"].items():
                if name not in saved:
                    assert name in optional, f"{path.name}: new required input {node['class_type']}.{name}"
                    assert optional[name][1].get("default") == value, (path.name, name, value)
                elif (node["class_type"], name) in TEMPLATE_CHANGES:
                    assert saved[name] == TEMPLATE_CHANGES[node["class_type"], name], (path.name, name, saved[name])
                else:
                    assert saved[name] == value, f"{path.name}: {node['class_type']}.{name} maps differently"
        for node_id, node in api.items():
            cls = comfy_nodes.NODE_CLASS_MAPPINGS[node["class_type"]]
            if "portraitos" not in cls.__module__:
                continue
            widgets = {k: v for k, v in node["inputs"].items() if not isinstance(v, list)}
            # every value against today's schema (files and installed models are the machine's, not the file's)
            problem = schema(cls, widgets, skip=cls.OWN_CHECKS)
            assert problem is None, (path.name, node_id, node["class_type"], problem)


def test_a_previous_release_identity_loads_in_the_engine_and_the_node(comfy_nodes, tmp_path, monkeypatch):
    from portraitos.testing.comfy_host import run_node

    (stored,) = PREVIOUS.glob("*.safetensors")
    identity = load_identity(stored)
    assert identity.name == "previous-release" and identity.count == 1
    assert identity.embedding.shape == (512,) and abs(float(identity.embedding.norm()) - 1.0) < 1e-3
    node = comfy_nodes.NODE_CLASS_MAPPINGS["IdentityLoader"]
    monkeypatch.setattr(sys.modules[node.__module__], "identities_dir", lambda: tmp_path)
    shutil.copy(stored, tmp_path / stored.name)
    assert node.validate_inputs(mode="load", stored_identity="previous-release", face_model="none installed") is True
    out = run_node(node, mode="load", stored_identity="previous-release", name="x")
    assert out.result[0].name == "previous-release" and out.result[0].count == 1
