"""The shipped workflows: generated from the product presets, equivalent in both formats, readable in
the editor, listed with thumbnails, valid against a live server and running on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import portraitos.tools.build_workflows as bw
from portraitos.engine import presets
from portraitos.headless.workflow_format import (
    EDITOR_ONLY,
    inputs_in_order,
    is_widget,
    ui_to_api,
    validate_api,
)
from portraitos.testing.shipped_workflows import (
    API_FILES,
    PORTRAITS,
    TEMPLATES,
    UI_FILES,
    check_template,
    node_info,
)

REPO = Path(__file__).resolve().parents[2]


def test_generated_files_are_current(comfy_nodes):
    """Rebuild with `.venv/bin/python tools/build_workflows.py` when this fails."""
    m = comfy_nodes.NODE_CLASS_MAPPINGS
    files = bw.generate(node_info(comfy_nodes), set(m))
    assert len(files) == 2 * len(UI_FILES) + 1 == 2 * len(API_FILES) + 1  # and js/template_order.js
    stale = bw.stale_files(files)
    assert not stale, f"stale generated workflows (run tools/build_workflows.py): {stale}"


def test_a_changed_preset_makes_the_files_stale(comfy_nodes, monkeypatch):
    m = comfy_nodes.NODE_CLASS_MAPPINGS
    monkeypatch.setattr(presets, "LENSES", (presets.LensPreset(85, 1.4),) + presets.LENSES[1:])
    monkeypatch.setattr(presets, "DEFAULT_LENS", presets.LENSES[0])
    stale = bw.stale_files(bw.generate(node_info(comfy_nodes), set(m)))
    assert any("portrait_85mm_f1.4_warm.json" in s for s in stale)
    assert any("portrait_85mm_f1.8_warm.json (no longer generated)" in s for s in stale)


def test_saved_file_names_follow_the_lens_set_in_the_editor(comfy_nodes):
    """SaveImage's prefix names LensBokeh's widgets (``%LensBokeh.f_number%``): the graph the editor queues
    says the lens the artist set, not the template's."""
    ui = json.loads((TEMPLATES / "portrait_85mm_f1.8_warm.json").read_text())
    lens = next(n for n in ui["nodes"] if n["type"] == "LensBokeh")
    names = [name for name, t, o, _r in inputs_in_order(node_info(comfy_nodes)("LensBokeh")) if is_widget(t, o)]
    assert "%LensBokeh.f_number%" in json.dumps(ui)
    lens["widgets_values"][names.index("f_number")] = 2.8
    lens["widgets_values"][names.index("focal_length_mm")] = 105.0
    graph = ui_to_api(ui, node_info(comfy_nodes))
    (prefix,) = [n["inputs"]["filename_prefix"] for n in graph.values() if n["class_type"] == "SaveImage"]
    assert prefix == "PortraitOS/portrait_105mm_f2.8_warm-cinematic"


def test_ui_and_api_files_are_equivalent(comfy_nodes):
    info = node_info(comfy_nodes)
    assert [p.name for p in UI_FILES] == [p.name for p in API_FILES]
    for ui_path, api_path in zip(UI_FILES, API_FILES):
        ui, api = json.loads(ui_path.read_text()), json.loads(api_path.read_text())
        assert ui_to_api(ui, info) == api, ui_path.name
        # the same links, slot for slot
        ui_links = {(str(l[1]), l[2], str(l[3])) for l in ui["links"]}
        api_links = {(v[0], v[1], nid) for nid, n in api.items() for v in n["inputs"].values() if isinstance(v, list)}
        assert ui_links == api_links, ui_path.name
        for l in ui["links"]:  # a link's type is the type of the output it leaves
            src = next(n for n in ui["nodes"] if n["id"] == l[1])
            assert src["outputs"][l[2]]["type"] == l[5] and l[0] in src["outputs"][l[2]]["links"]


def test_selfie_workflows_appear_with_the_generation_nodes(comfy_nodes):
    """Workflow 1 is generated as soon as PortraitGenerate and IdentityScore are registered. Until they
    are, their schemas here are the ones their design names (model/clip/vae, identity, style,
    batch_size, photo; images + identity); ComfyUI's own nodes and this pack's are the loaded ones."""
    real = node_info(comfy_nodes)
    planned = {
        "PortraitGenerate": {
            "input": {
                "required": {
                    "model": ["MODEL", {}],
                    "clip": ["CLIP", {}],
                    "vae": ["VAE", {}],
                    "identity": ["IDENTITY", {}],
                    "method": ["COMBO", {"options": ["IP-Adapter FaceID", "InstantID", "keep face"]}],
                    "style": ["COMBO", {"options": ["studio headshot", "cinematic"]}],
                    "batch_size": ["INT", {"default": 4, "min": 1, "max": 20}],
                    "steps": ["INT", {"default": 30, "min": 1, "max": 200}],
                    # the files InstantID's templates name (the installed ones and "auto" are the choices)
                    "adapter_file": ["COMBO", {"options": ["auto"], "default": "auto"}],
                    "controlnet_file": ["COMBO", {"options": ["auto"], "default": "auto"}],
                },
                "optional": {
                    "speed": ["COMBO", {"options": ["standard", bw.FAST_SPEED], "default": "standard"}],
                    "photo": ["IMAGE", {}],
                },
            },
            "output": ["IMAGE", "LATENT", "STRING"],
            "output_name": ["images", "latent", "prompts"],
        },
        "IdentityScore": {
            "input": {"required": {"images": ["IMAGE", {}], "identity": ["IDENTITY", {}]}},
            "output": ["IMAGE", "FLOAT", "MASK"],
            "output_name": ["sorted", "scores", "failed"],
        },
    }

    def info(t):
        return planned[t] if t in planned else real(t)

    available = set(comfy_nodes.NODE_CLASS_MAPPINGS) | set(planned)
    selfie = bw.selfie_workflows(available)
    profiles = {f"portrait_{tag}" for tag in bw.PROFILE_TEMPLATES.values()}  # portrait-only variants
    portraits = sorted(p.stem.removeprefix("portrait_") for p in PORTRAITS if p.stem not in profiles)
    assert sorted(w.name.removeprefix("selfie_") for w in selfie[:-2]) == portraits
    assert selfie[-2].name == "selfie_fast_85mm_f1.8_warm"
    assert selfie[-1].name == "selfie_stored-identity"
    for wf in selfie:
        api, ui = bw.render(wf, info)
        assert api["4"]["inputs"]["batch_size"] == 20 and api["5"]["inputs"]["images"] == ["4", 0]
        assert ui_to_api(ui, info) == api
        assert validate_api(api, {t: info(t) for t in {n["class_type"] for n in api.values()}}, lambda *a: True) == []
        check_template(ui, wf.name)
        assert (TEMPLATES / f"{wf.thumbnail_like}.jpg").is_file()
    assert "image" not in bw.render(selfie[-1], info)[0]["2"]["inputs"]  # the stored identity is loaded by name
    assert bw.selfie_workflows(set(comfy_nodes.NODE_CLASS_MAPPINGS) - {"PortraitGenerate"}) == []


def test_editor_only_nodes_and_modes_convert_as_the_editor_queues_them(comfy_nodes):
    """Notes, reroutes, muted and bypassed nodes, upload and seed-control widget values, a widget fed
    by a link: converted as the editor does when it queues the workflow."""
    info = node_info(comfy_nodes)
    wf = {
        "nodes": [
            {"id": 1, "type": "LoadImage", "inputs": [], "widgets_values": ["a.png", "image"]},
            {"id": 2, "type": "Reroute", "inputs": [{"name": "", "type": "*", "link": 1}]},
            {
                "id": 3,
                "type": "ImageInvert",
                "mode": 4,  # bypassed: its input passes through
                "inputs": [{"name": "image", "type": "IMAGE", "link": 2}],
                "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [3]}],
            },
            {"id": 4, "type": "PreviewImage", "inputs": [{"name": "images", "type": "IMAGE", "link": 3}]},
            {"id": 5, "type": "Note", "widgets_values": ["hello"]},
            {"id": 6, "type": "SaveImage", "mode": 2, "inputs": [{"name": "images", "type": "IMAGE", "link": 4}]},
            {
                "id": 7,
                "type": "KSampler",
                "inputs": [{"name": "seed", "type": "INT", "widget": {"name": "seed"}, "link": 5}],
                "widgets_values": [0, "randomize", 20, 8.0, "euler", "normal", 1.0],
            },
            {"id": 8, "type": "PrimitiveInt", "inputs": [], "widgets_values": [42, "fixed"]},
        ],
        "links": [
            [1, 1, 0, 2, 0, "IMAGE"],
            [2, 2, 0, 3, 0, "IMAGE"],
            [3, 3, 0, 4, 0, "IMAGE"],
            [4, 1, 0, 6, 0, "IMAGE"],
            [5, 8, 0, 7, 0, "INT"],
        ],
    }
    graph = ui_to_api(wf, info)
    assert set(graph) == {"1", "4", "7", "8"}
    assert graph["1"]["inputs"] == {"image": "a.png"}
    assert graph["4"]["inputs"] == {"images": ["1", 0]}
    ks = graph["7"]["inputs"]
    assert ks["seed"] == ["8", 0] and ks["steps"] == 20 and ks["cfg"] == 8.0 and ks["sampler_name"] == "euler"
    assert graph["8"]["inputs"] == {"value": 42}
    from portraitos.headless.workflow_format import WorkflowError

    with pytest.raises(WorkflowError, match="NotInstalledNode"):
        ui_to_api({"nodes": [{"id": 1, "type": "NotInstalledNode"}], "links": []}, info, known=lambda t: False)
    sub = {"nodes": [{"id": 1, "type": "0f1e-uuid"}], "links": [], "definitions": {"subgraphs": [{"id": "0f1e-uuid"}]}}
    with pytest.raises(WorkflowError, match="subgraph"):
        ui_to_api(sub, info)
    assert "Note" in EDITOR_ONLY


def test_samples_are_copied_once_and_never_overwritten(comfy_nodes, tmp_path):
    from portraitos.services.sample_inputs import install_samples, sample_files

    assert [p.name for p in sample_files()] == ["astronaut.jpg"]
    written = install_samples(tmp_path)
    dest = tmp_path / "portraitos_astronaut.jpg"  # directly in the input folder: LoadImage lists it
    assert written == [dest] and dest.read_bytes() == sample_files()[0].read_bytes()
    dest.write_bytes(b"the user's own file")
    assert install_samples(tmp_path) == [] and dest.read_bytes() == b"the user's own file"
    assert "Public domain" in (REPO / "example_inputs" / "NOTICE.md").read_text()


def _validated(graph: dict) -> tuple[bool, dict]:
    """ComfyUI's own prompt validation (what ``/prompt`` runs before queueing): (valid, node errors)."""
    import asyncio

    import execution

    valid, _error, _outputs, node_errors = asyncio.run(execution.validate_prompt("fast-template", graph, None))
    return valid, node_errors


def test_fast_template_validates_and_samples_fast_through_the_lightning_lora(comfy_nodes, tmp_path, caplog):
    """The fast selfie template as shipped: ComfyUI's validation accepts its API graph once a checkpoint, the
    Lightning LoRA (under its published name), the face pack and InstantID's files are installed; its LoraLoader and
    PortraitGenerate, with the template's own inputs on tiny SDXL models, sample with the fast setting (cfg 1,
    euler, sgm_uniform, the LoRA's 4 steps) on the LoRA-patched model."""
    import folder_paths
    import torch
    from skimage import data

    from portraitos.engine.faces import analyse, load_pack
    from portraitos.engine.generation.defaults import FAST
    from portraitos.engine.identity import build_identity
    from portraitos.testing import tiny_diffusion_models as tdm
    from portraitos.testing.comfy_host import run_node
    from portraitos.testing.tiny_face_models import build_pack

    graph = json.loads((TEMPLATES / "api" / "selfie_fast_85mm_f1.8_warm.json").read_text())
    gen, lora = graph["4"]["inputs"], graph["17"]["inputs"]
    assert graph["17"]["class_type"] == "LoraLoader" and lora["model"] == ["3", 0] and lora["clip"] == ["3", 1]
    assert gen["model"] == ["17", 0] and gen["clip"] == ["17", 1] and gen["vae"] == ["3", 2]
    assert gen["speed"] == FAST and gen["steps"] == 4 and gen["method"] == bw.METHOD
    assert lora["lora_name"] == "sdxl_lightning_4step_lora.safetensors"

    names = ("checkpoints", "loras", "instantid", "controlnet", "insightface")
    saved = {k: folder_paths.folder_names_and_paths[k] for k in names if k in folder_paths.folder_names_and_paths}
    import portraitos.services.identity_adapters  # noqa: F401  (registers models/instantid)

    for k in names:
        (tmp_path / k).mkdir()
        exts = folder_paths.folder_names_and_paths[k][1] if k in folder_paths.folder_names_and_paths else set()
        folder_paths.folder_names_and_paths[k] = ([str(tmp_path / k)], exts)
    folder_paths.filename_list_cache.clear()
    tdm.register()
    try:
        valid, errors = _validated(graph)
        assert not valid and "3" in errors and "17" in errors  # neither the checkpoint nor the LoRA is there yet
        tdm.build_checkpoint(tmp_path / "checkpoints" / "tiny_sdxl.safetensors", "sdxl")
        graph["3"]["inputs"]["ckpt_name"] = "tiny_sdxl.safetensors"
        model, clip, vae = comfy_nodes.CheckpointLoaderSimple().load_checkpoint("tiny_sdxl.safetensors")[:3]
        from safetensors.torch import save_file

        lightning = {k: v for k, v in tdm.faceid_lora_state_dict(model, seed=11).items() if "attn2" in k}
        for key in [k for k in lightning if k.endswith(".lora_down.weight")]:  # the published file has alphas
            lightning[key.replace(".lora_down.weight", ".alpha")] = torch.tensor(float(tdm.LORA_RANK))
        save_file(lightning, str(tmp_path / "loras" / lora["lora_name"]))
        build_pack(tmp_path / "insightface", bw.FACE_PACK)
        folder_paths.filename_list_cache.clear()
        valid, errors = _validated(graph)  # InstantID's files, which the template names, are not there yet
        assert not valid and set(errors) == {"4"} and len(errors["4"]["errors"]) == 1, errors
        assert "ip-adapter.bin" in errors["4"]["errors"][0]["details"], errors
        tdm.save_bin(tdm.instantid_state_dict(), tmp_path / "instantid" / "ip-adapter.bin")
        tdm.build_diffusers_identitynet(tmp_path / "controlnet" / "diffusion_pytorch_model.safetensors")
        folder_paths.filename_list_cache.clear()
        valid, errors = _validated(graph)
        assert valid and not errors, errors

        loader = comfy_nodes.NODE_CLASS_MAPPINGS["LoraLoader"]()
        patched_model, patched_clip = loader.load_lora(
            model, clip, lora["lora_name"], lora["strength_model"], lora["strength_clip"]
        )
        assert len(patched_model.patches) == len(lightning) // 3 and not model.patches

        rec, warn, _ = analyse(load_pack(tmp_path / "insightface", bw.FACE_PACK), data.astronaut())
        identity = build_identity(bw.IDENTITY, [rec], bw.FACE_PACK, warn)
        node = comfy_nodes.NODE_CLASS_MAPPINGS["PortraitGenerate"]
        small = {"width": 64, "height": 64, "batch_size": 2}  # the template's inputs, at a tiny size

        def generate(m, c, **kw):
            inputs = {k: v for k, v in gen.items() if not isinstance(v, list)}
            inputs.update(small, **kw)
            return run_node(node, model=m, clip=c, vae=vae, identity=identity, **inputs).args[0]

        with caplog.at_level("INFO", logger="PortraitOS"):
            fast = generate(patched_model, patched_clip)
        assert fast.shape == (2, 64, 64, 3) and torch.isfinite(fast).all()
        assert "cfg 5.0 → 1.0" in caplog.text and "sampler_name dpmpp_2m → euler" in caplog.text
        assert "scheduler karras → sgm_uniform" in caplog.text and "steps 4 →" not in caplog.text  # as set
        spelled = generate(
            patched_model, patched_clip, speed="standard", cfg=1.0, sampler_name="euler", scheduler="sgm_uniform"
        )
        assert torch.equal(fast, spelled)  # the fast setting is exactly these sampling widgets
        without_lora = generate(model, clip)
        assert float((fast - without_lora).abs().mean()) > 1e-3  # the LoRA-patched model is the one sampled
    finally:
        tdm.unregister()
        for k in names:
            if k in saved:
                folder_paths.folder_names_and_paths[k] = saved[k]
            else:
                folder_paths.folder_names_and_paths.pop(k, None)
        folder_paths.filename_list_cache.clear()
