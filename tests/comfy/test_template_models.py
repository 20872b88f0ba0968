"""The model files the shipped templates declare (each loader node's ``properties.models``: name, official
URL, folder, the frontend's convention for its missing-models dialog) are declared for a widget that names
them, and each declared folder is where that node looks: a file put there under the declared name
becomes one of the widget's choices in ComfyUI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from portraitos.testing.shipped_workflows import UI_FILES


def _declared() -> list[tuple[str, dict, list]]:
    out = []
    for path in UI_FILES:
        for node in json.loads(path.read_text())["nodes"]:
            for model in node.get("properties", {}).get("models", []):
                out.append((f"{path.stem}:{node['type']}", model, node.get("widgets_values", [])))
    return out


DECLARED = _declared()


def test_selfie_templates_declare_their_models():
    by_template: dict[str, set[str]] = {}
    for where, model, _values in DECLARED:
        by_template.setdefault(where.split(":")[0], set()).add(model["name"])
    selfie = [p.stem for p in UI_FILES if p.stem.startswith("selfie_")]
    assert selfie and set(selfie) <= set(by_template)
    for name in selfie:
        assert {"sd_xl_base_1.0.safetensors", "ip-adapter.bin", "diffusion_pytorch_model.safetensors"} <= by_template[
            name
        ], name
    assert "sdxl_lightning_4step_lora.safetensors" in by_template["selfie_fast_85mm_f1.8_warm"]
    # InsightFace publishes no single file to download: the Notes say so
    for path in UI_FILES:
        if path.stem.startswith("selfie_"):
            note = next(n for n in json.loads(path.read_text())["nodes"] if n["type"] == "Note")
            assert "no official single-file" in note["widgets_values"][0], path.stem


@pytest.mark.parametrize("where,model,values", DECLARED, ids=[f"{w}:{m['name']}" for w, m, _ in DECLARED])
def test_declared_folder_is_where_the_node_looks(comfy_nodes, tmp_path, where, model, values):
    import folder_paths

    import portraitos.services.identity_adapters  # noqa: F401  (registers models/instantid)

    assert model["url"].startswith("https://huggingface.co/") and model["url"].endswith("/" + model["name"])
    assert model["name"] in values, f"{where}: {model['name']} is declared but no widget names it"
    directory = model["directory"]
    assert directory in folder_paths.folder_names_and_paths, directory
    node_type = where.split(":")[1]
    cls = comfy_nodes.NODE_CLASS_MAPPINGS[node_type]

    def choices() -> set[str]:
        out: set[str] = set()
        for group in ("required", "optional"):
            for entry in cls.INPUT_TYPES().get(group, {}).values():
                options = entry[0] if isinstance(entry[0], list) else (entry[1] or {}).get("options", [])
                out |= {o for o in options if isinstance(o, str)}
        return out

    assert model["name"] not in choices()
    saved = folder_paths.folder_names_and_paths[directory]
    folder = tmp_path / directory
    folder.mkdir()
    (folder / model["name"]).write_bytes(b"")  # the node lists files; it reads them only when it runs
    folder_paths.folder_names_and_paths[directory] = ([str(folder)], saved[1])
    folder_paths.filename_list_cache.clear()
    try:
        assert model["name"] in choices(), f"{node_type} does not look in {directory} for {model['name']}"
    finally:
        folder_paths.folder_names_and_paths[directory] = saved
        folder_paths.filename_list_cache.clear()
    assert Path(folder_paths.get_folder_paths(directory)[0]).name  # restored
