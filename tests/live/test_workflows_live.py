"""The shipped workflows: generated from the product presets, equivalent in both formats, readable in
the editor, listed with thumbnails, valid against a live server and running on it."""

from __future__ import annotations

import io
import json
import urllib.parse
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import portraitos.tools.build_workflows as bw
from portraitos.headless.workflow_format import (
    validate_api,
)
from portraitos.testing.shipped_workflows import API_FILES, PORTRAITS, SELFIE, TEMPLATES, UI_FILES

REPO = Path(__file__).resolve().parents[2]


IDENTITY_ORDER = ["identity_create", "identity_update", "identity_load"]


# combos whose options are the user's files: photos, model packs, stored identities
ENV_DEPENDENT = {
    ("LoadImage", "image"),
    ("IdentityLoader", "face_model"),
    ("IdentityLoader", "stored_identity"),
    ("CheckpointLoaderSimple", "ckpt_name"),
    ("LoraLoader", "lora_name"),
    # InstantID's files, named so the frontend's missing-models list can offer them
    ("PortraitGenerate", "adapter_file"),
    ("PortraitGenerate", "controlnet_file"),
    ("PortraitIdentityApply", "adapter_file"),
    ("PortraitIdentityApply", "controlnet_file"),
}


def _images(server, hist, node: str) -> list[np.ndarray]:
    out = []
    for ref in hist["outputs"].get(node, {}).get("images", []):
        q = urllib.parse.urlencode({k: ref[k] for k in ("filename", "subfolder", "type")})
        out.append(np.asarray(Image.open(io.BytesIO(server.get(f"/view?{q}"))).convert("RGB")))
    return out


def test_templates_are_listed_with_thumbnails(comfy_server):
    templates = comfy_server.get_json("/workflow_templates")
    assert sorted(templates["PortraitOS"]) == sorted(p.stem for p in UI_FILES)
    for p in UI_FILES:
        wf = json.loads(comfy_server.get(f"/api/workflow_templates/PortraitOS/{p.name}"))
        assert wf == json.loads(p.read_text())
        jpg = comfy_server.get(f"/api/workflow_templates/PortraitOS/{p.stem}.jpg")
        assert jpg[:3] == b"\xff\xd8\xff"
    # one template folder (ComfyUI lists every folder it knows, so a second one would double the cards)
    others = ("example_workflows", "example", "examples", "workflow")
    assert not [name for name in others if (REPO / name).exists()]


def test_every_api_workflow_validates_against_object_info(comfy_server):
    info = comfy_server.get_json("/object_info")
    for path in API_FILES:
        problems = validate_api(json.loads(path.read_text()), info, lambda ct, name: (ct, name) in ENV_DEPENDENT)
        assert not problems, f"{path.name}: {problems}"
    # the check itself finds what the server would refuse
    bad = json.loads(PORTRAITS[0].read_text())
    bad["4"]["inputs"]["f_number"] = 99.0
    bad["4"]["inputs"]["image"] = ["2", 0]
    bad["3"]["inputs"]["preset"] = "disco"
    problems = " ".join(validate_api(bad, info))
    assert "f_number" in problems and "expects IMAGE, linked to a DEPTH" in problems and "disco" in problems


def test_a_template_runs_as_shipped(comfy_server):
    """What a new user gets on pressing Run: the sample photo the pack put into the input folder."""
    assert (comfy_server.input_dir / "portraitos_astronaut.jpg").is_file()
    # LoadImage lists it, so no frontend marks the shipped value as missing
    listed = comfy_server.get_json("/object_info/LoadImage")["LoadImage"]["input"]["required"]["image"][0]
    assert "portraitos_astronaut.jpg" in listed
    graph = json.loads((TEMPLATES / "api" / "portrait_85mm_f1.8_warm.json").read_text())
    hist, _ = comfy_server.run_prompt(graph)
    assert hist["status"]["status_str"] == "success", hist["status"]
    (result,) = _images(comfy_server, hist, "5")
    assert result.shape == (512, 512, 3)


@pytest.fixture(scope="module")
def small_photo(comfy_server):
    """A 192×192 copy of the sample (small, to keep CI fast), uploaded as a user would."""
    img = Image.open(REPO / "example_inputs" / "astronaut.jpg").resize((192, 192), Image.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return comfy_server.upload("small_portrait.png", buf.getvalue())["name"]


def test_weight_free_templates_run_end_to_end(comfy_server, small_photo):
    results = {}
    for path in PORTRAITS:
        graph = json.loads(path.read_text())
        graph["1"]["inputs"]["image"] = small_photo
        hist, messages = comfy_server.run_prompt(graph)
        assert hist["status"]["status_str"] == "success", (path.name, hist["status"])
        (saved,) = _images(comfy_server, hist, "5")
        assert saved.shape == (192, 192, 3), path.name
        for preview in ("6", "8", "10"):  # depth, subject matte, in-focus mask
            (img,) = _images(comfy_server, hist, preview)
            assert img.shape == (192, 192, 3) and img.std() > 1, (path.name, preview)
        profile = graph["4"]["inputs"]["lens_profile"]
        if profile != "ideal":  # the lens-profile templates render with their profile
            assert f"lens profile: {profile}" in "".join(hist["outputs"]["4"]["text"]), path.name
        results[path.stem] = saved.astype(np.float32)
    src = np.asarray(Image.open(comfy_server.input_dir / small_photo).convert("RGB")).astype(np.float32)

    def background_detail(a):  # the wall top right
        return np.abs(np.diff(a[8:30, 150:185].mean(-1), axis=1)).mean()

    for tag in bw.PROFILE_TEMPLATES.values():
        assert np.abs(results[f"portrait_{tag}"] - results["portrait_85mm_f1.8_warm"]).mean() > 0.5, tag
    wide, narrow = results["portrait_85mm_f1.2_warm"], results["portrait_85mm_f2.8_warm"]
    assert background_detail(wide) < background_detail(narrow) < background_detail(src)
    face = (slice(40, 60), slice(75, 95))
    warm, cool = results["portrait_85mm_f1.8_warm"][face], results["portrait_85mm_f1.8_cool"][face]
    assert (warm[..., 0] - warm[..., 2]).mean() > (cool[..., 0] - cool[..., 2]).mean() + 10


def test_identity_templates_run_end_to_end_on_small_face_models(comfy_server):
    from portraitos.testing.tiny_face_models import build_pack

    build_pack(comfy_server.model_folders["insightface"], bw.FACE_PACK)
    stored = comfy_server.model_folders["identities"] / f"{bw.IDENTITY}.safetensors"
    stored.unlink(missing_ok=True)
    for name, n_faces in zip(IDENTITY_ORDER, (1, 2, 2)):  # update adds the photo's face
        hist, _ = comfy_server.run_prompt(json.loads((TEMPLATES / "api" / f"{name}.json").read_text()))
        assert hist["status"]["status_str"] == "success", (name, hist["status"])
        text = " ".join(t for o in hist["outputs"].values() for t in o.get("text", []))
        assert bw.IDENTITY in text, (name, text)
        faces = _images(comfy_server, hist, "4")  # the aligned faces the identity stores
        assert len(faces) == n_faces and all(f.shape == (224, 224, 3) and f.std() > 10 for f in faces), name
        assert stored.is_file()


def test_selfie_workflows_run_end_to_end_on_tiny_models(comfy_server, comfy_nodes):
    """Workflow 1 as shipped, on a tiny checkpoint the server's CheckpointLoaderSimple loads and the small
    face-model pack, with the weight-free 'keep face' method, 2 steps and a batch of 2 at 64×64; the fast
    variant on a tiny SDXL with a LoRA in the Lightning file's layout under its published name, at its
    shipped speed and steps."""
    info = comfy_server.get_json("/object_info")
    if "PortraitGenerate" not in info:  # the workflows exist exactly when the node does
        assert not SELFIE
        return
    from portraitos.testing.tiny_diffusion_models import build_checkpoint
    from portraitos.testing.tiny_face_models import build_pack

    # the profiles are portrait-only; the fast and the stored-identity variants are selfie-only
    assert len(SELFIE) == len(PORTRAITS) - len(bw.PROFILE_TEMPLATES) + 2
    build_pack(comfy_server.model_folders["insightface"], bw.FACE_PACK)
    build_checkpoint(comfy_server.model_folders["checkpoints"] / "tiny_selfie_sd15.safetensors", "sd15")
    default = TEMPLATES / "api" / "selfie_85mm_f1.8_warm.json"
    stored = TEMPLATES / "api" / "selfie_stored-identity.json"
    (comfy_server.model_folders["identities"] / f"{bw.IDENTITY}.safetensors").unlink(missing_ok=True)
    for path in (default, stored):  # create the identity, then load it by name
        graph = json.loads(path.read_text())
        gen = graph["4"]["inputs"]
        assert gen["batch_size"] == 20 and gen["method"] == bw.METHOD
        graph["3"]["inputs"]["ckpt_name"] = "tiny_selfie_sd15.safetensors"
        gen.update(method="keep face", steps=2, width=64, height=64, batch_size=2)
        hist, _ = comfy_server.run_prompt(graph, timeout=600)
        assert hist["status"]["status_str"] == "success", (path.name, hist["status"]["messages"][-1])
        saved = _images(comfy_server, hist, "10")
        assert len(saved) == 2 and all(s.shape == (128, 128, 3) for s in saved)  # Lanczos ×2
        assert not np.array_equal(saved[0], saved[1])
        for preview in ("12", "14", "16"):
            assert len(_images(comfy_server, hist, preview)) == 2, preview
    fast = json.loads((TEMPLATES / "api" / "selfie_fast_85mm_f1.8_warm.json").read_text())
    lora = fast["17"]["inputs"]["lora_name"]
    _tiny_lightning_lora(comfy_server, comfy_nodes, "tiny_selfie_sdxl.safetensors", lora)
    (comfy_server.model_folders["identities"] / f"{bw.IDENTITY}.safetensors").unlink(missing_ok=True)
    fast["3"]["inputs"]["ckpt_name"] = "tiny_selfie_sdxl.safetensors"
    assert fast["4"]["inputs"]["speed"] == bw.FAST_SPEED and fast["4"]["inputs"]["model"] == ["17", 0]
    fast["4"]["inputs"].update(method="keep face", width=64, height=64, batch_size=2)
    hist, _ = comfy_server.run_prompt(fast, timeout=600)
    assert hist["status"]["status_str"] == "success", hist["status"]["messages"][-1]
    saved = _images(comfy_server, hist, "10")
    assert len(saved) == 2 and all(s.shape == (128, 128, 3) for s in saved)
    log = comfy_server.log_tail(200_000)
    assert "cfg 5.0 → 1.0 (the fast" in log and "scheduler karras → sgm_uniform" in log
    assert "lora key not loaded" not in log  # every key of the LoRA patched the UNet


def _tiny_lightning_lora(server, comfy_nodes, ckpt: str, lora: str) -> None:
    """A tiny SDXL checkpoint in the server's checkpoints folder and, built against it in this process, a
    LoRA in the published Lightning file's layout (kohya ``lora_unet_*`` names with alphas) named ``lora``."""
    import torch
    from safetensors.torch import save_file

    from portraitos.testing import tiny_diffusion_models as tdm

    path = tdm.build_checkpoint(server.model_folders["checkpoints"] / ckpt, "sdxl")
    tdm.register()
    try:
        import comfy.sd

        model = comfy.sd.load_checkpoint_guess_config(str(path))[0]
        sd = {k: v for k, v in tdm.faceid_lora_state_dict(model, seed=11).items() if "attn2" in k}
    finally:
        tdm.unregister()
    for key in [k for k in sd if k.endswith(".lora_down.weight")]:
        sd[key.replace(".lora_down.weight", ".alpha")] = torch.tensor(float(tdm.LORA_RANK))
    save_file(sd, str(server.model_folders["loras"] / lora))
