"""PortraitGenerate in a real ComfyUI (in-process), on tiny checkpoints that ComfyUI's own
CheckpointLoaderSimple loads, tiny adapters and a tiny ControlNet with the published key layouts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data

from portraitos.engine.faces import analyse, load_pack
from portraitos.engine.generation import (
    AdapterError,
    build_prompts,
    frame_photo,
    keep_mask,
)
from portraitos.engine.identity import build_identity
from portraitos.testing.comfy_host import run_node
from portraitos.testing.tiny_diffusion_models import (
    build_checkpoint,
    build_controlnet,
    faceid_lora_state_dict,
    faceid_state_dict,
    instantid_state_dict,
    save_bin,
    save_flat_safetensors,
)
from portraitos.testing.tiny_face_models import build_pack

FOLDERS = ("checkpoints", "ipadapter", "instantid", "controlnet", "loras")
FAST = {"steps": 2, "cfg": 4.0, "sampler_name": "euler", "scheduler": "normal", "width": 64, "height": 64}
STEPS = {"sd15": 2, "sdxl": 1}  # the tiny SDXL has the real 70 transformer blocks: one step is enough
ASTRONAUT = data.astronaut()


@pytest.fixture(scope="module")
def tiny(comfy_nodes, tmp_path_factory):
    """Tiny SD 1.5 and SDXL checkpoints in a checkpoints folder, loaded by CheckpointLoaderSimple; the
    adapter folders (empty until a test fills them); identities from the tiny face packs."""
    import folder_paths

    from portraitos.testing import tiny_diffusion_models

    root = tmp_path_factory.mktemp("generation")
    saved = {
        name: (
            list(folder_paths.folder_names_and_paths[name][0]) if name in folder_paths.folder_names_and_paths else None
        )
        for name in FOLDERS
    }
    import portraitos.services.identity_adapters  # noqa: F401  (registers models/ipadapter and models/instantid)

    for name in FOLDERS:
        (root / name).mkdir()
        folder_paths.folder_names_and_paths[name] = ([str(root / name)], folder_paths.folder_names_and_paths[name][1])
    tiny_diffusion_models.register()
    build_checkpoint(root / "checkpoints" / "tiny_sd15.safetensors", "sd15")
    build_checkpoint(root / "checkpoints" / "tiny_sdxl.safetensors", "sdxl")
    loader = comfy_nodes.CheckpointLoaderSimple()
    models = {fam: loader.load_checkpoint(f"tiny_{fam}.safetensors")[:3] for fam in ("sd15", "sdxl")}
    faces = tmp_path_factory.mktemp("insightface")
    ids = {}
    other = ASTRONAUT.copy()
    other[..., 0] = 255 - other[..., 0]  # same face geometry, another embedding
    for pack in ("buffalo_l", "antelopev2"):
        build_pack(faces, pack)
        fp = load_pack(faces, pack, "CPU")
        for label, photo in (("astro", ASTRONAUT), ("other", other)):
            rec, warn, _ = analyse(fp, photo)
            ids[(pack, label)] = build_identity(label, [rec], pack, warn)
    yield {"root": root, "models": models, "ids": ids, "nodes": comfy_nodes, "faces": faces}
    tiny_diffusion_models.unregister()
    for name, paths in saved.items():
        if paths is None:
            continue
        folder_paths.folder_names_and_paths[name] = (paths, folder_paths.folder_names_and_paths[name][1])


def _node(tiny):
    return tiny["nodes"].NODE_CLASS_MAPPINGS["PortraitGenerate"]


def _run(tiny, family, identity, **kw):
    model, clip, vae = tiny["models"][family]
    inputs = {**FAST, "batch_size": 1, "seed": 7, "steps": STEPS[family], **kw}
    out = run_node(_node(tiny), model=model, clip=clip, vae=vae, identity=identity, **inputs)
    return out.args


def _photo() -> torch.Tensor:
    return torch.from_numpy(ASTRONAUT).float()[None] / 255


def _clear(tiny, folder):
    for p in (tiny["root"] / folder).iterdir():
        p.unlink()


# --- prompts -------------------------------------------------------------------------------------


def test_style_batches_have_distinct_prompts_and_seeds_and_sharp_backgrounds():
    prompts = build_prompts("studio headshot", 20, 100, "red scarf", "hat")
    assert len({p.positive for p in prompts}) == 20
    assert [p.seed for p in prompts] == list(range(100, 120))
    for p in prompts:
        assert "red scarf" in p.positive and "sharp focus" in p.positive
        assert "bokeh, blurry background, depth of field" in p.negative and p.negative.endswith("hat")
    meta = {"age": [31.0], "gender": [0]}
    assert "a person" in build_prompts("cinematic", 1, 0, meta=meta)[0].positive
    assert "30-year-old woman" in build_prompts("cinematic", 1, 0, meta=meta, use_age_gender=True)[0].positive
    with pytest.raises(ValueError, match="style 'nope'"):
        build_prompts("nope", 1, 0)


# --- keep face -----------------------------------------------------------------------------------


def test_keep_face_keeps_the_face_and_regenerates_the_rest(tiny):
    ident = tiny["ids"][("buffalo_l", "astro")]
    images, latent, text = _run(tiny, "sd15", ident, method="keep face", photo=_photo(), batch_size=3)
    assert images.shape == (3, 64, 64, 3) and latent["samples"].shape == (3, 4, 8, 8)
    framed = frame_photo(_photo()[0], tuple(ident.tensors["bbox"][0].tolist()), 64, 64)
    keep = keep_mask(framed.box, 64, 64)
    inside, outside = keep >= 1, keep <= 0
    assert inside.sum() > 20 and outside.sum() > 2000
    for img in images:
        assert torch.equal(img[inside], framed.image[inside])  # the face's own pixels, bit for bit
        assert float((img[outside] - framed.image[outside]).abs().mean()) > 0.05  # everything else is new
    assert not torch.equal(images[0][outside], images[1][outside])  # image i: variation i, seed + i
    lines = text.splitlines()
    assert len(lines) == 3 and len(set(lines)) == 3 and "seed 8" in lines[1]
    again = _run(tiny, "sd15", ident, method="keep face", photo=_photo(), batch_size=3)[0]
    assert torch.equal(again, images)  # same seed → same images


def test_sub_batches_give_the_same_images_with_one_progress_bar(tiny, monkeypatch):

    import comfy.utils

    ident = tiny["ids"][("buffalo_l", "astro")]
    kw = {"method": "keep face", "photo": _photo(), "batch_size": 3, "seed": 11, "steps": 1}
    whole = _run(tiny, "sd15", ident, **kw)[0]
    from portraitos.services import sampling

    # two sub-batches, as on a small GPU
    monkeypatch.setattr(sampling, "_sub_batch", lambda model, count, shape, *a, **k: 2)
    seen = []
    monkeypatch.setattr(
        comfy.utils, "PROGRESS_BAR_HOOK", lambda value, total, preview, node_id=None: seen.append((value, total))
    )
    split = _run(tiny, "sd15", ident, **kw)[0]
    assert torch.allclose(split, whole, atol=1e-4)  # image i depends on its own seed and prompt only
    assert seen[-1] == (2, 2) and [v for v, _ in seen] == sorted(v for v, _ in seen)  # 2 sub-batches × 1 step


def test_cancel_is_honoured(tiny):
    import comfy.model_management as mm

    mm.interrupt_current_processing(True)
    try:
        with pytest.raises(mm.InterruptProcessingException):
            _run(tiny, "sd15", tiny["ids"][("buffalo_l", "astro")], method="keep face", photo=_photo())
        assert not mm.processing_interrupted()
    finally:
        mm.interrupt_current_processing(False)


def test_keep_face_without_photo_says_so(tiny):
    with pytest.raises(ValueError, match="keep face.*photo"):
        _run(tiny, "sd15", tiny["ids"][("buffalo_l", "astro")], method="keep face")


def _worse_photos() -> tuple[torch.Tensor, torch.Tensor]:
    """The sample darkened to a quarter and blurred (σ 3 px): the same face, worse references."""
    from scipy import ndimage

    sharp = _photo()[0]
    return sharp * 0.25, torch.from_numpy(ndimage.gaussian_filter(sharp.numpy(), sigma=(3, 3, 0)))


def test_keep_face_takes_the_best_of_several_photos_and_says_which(tiny):
    """A batch of three selfies on ``photo`` (dark, blurred, then the sharp one): the sharp, well-lit face
    is the one kept, pixel for pixel, and the node's text says photo 3 of 3 and why."""
    ident = tiny["ids"][("buffalo_l", "astro")]
    dark, blurred = _worse_photos()
    batch = torch.stack([dark, blurred, _photo()[0]])
    out = run_node(
        _node(tiny),
        **dict(zip(("model", "clip", "vae"), tiny["models"]["sd15"])),
        identity=ident,
        **{**FAST, "batch_size": 2, "seed": 7, "steps": STEPS["sd15"]},
        method="keep face",
        photo=batch,
    )
    images = out.args[0]
    framed = frame_photo(_photo()[0], tuple(ident.tensors["bbox"][0].tolist()), 64, 64)
    inside = keep_mask(framed.box, 64, 64) >= 1
    for img in images:
        assert torch.equal(img[inside], framed.image[inside])  # the sharp photo's face
    (line,) = out.ui["portraitos"][0]["lines"]
    assert line.startswith("keep face: photo 3 of 3 (yaw") and "photo 1:" in line and "photo 2:" in line
    assert line in out.ui["text"][0]
    single = run_node(
        _node(tiny),
        **dict(zip(("model", "clip", "vae"), tiny["models"]["sd15"])),
        identity=ident,
        **{**FAST, "batch_size": 1, "seed": 7, "steps": STEPS["sd15"]},
        method="keep face",
        photo=_photo(),
    )
    assert single.ui is None  # one photo: nothing to choose, nothing said


# --- IP-Adapter FaceID ---------------------------------------------------------------------------


def _snapshot(model):
    to = model.model_options.get("transformer_options", {})
    return (
        {k: len(v) for k, v in model.patches.items()},
        model.patches_uuid,
        {k: dict(v) for k, v in to.get("patches_replace", {}).items()},
        sorted(model.additional_models),
    )


def _stock(tiny, family, text, negative, seed):
    """The same image through ComfyUI's stock nodes (CLIPTextEncode, EmptyLatentImage, KSampler, VAEDecode)."""
    n = tiny["nodes"]
    model, clip, vae = tiny["models"][family]
    pos = n.CLIPTextEncode().encode(clip, text)[0]
    neg = n.CLIPTextEncode().encode(clip, negative)[0]
    latent = n.EmptyLatentImage().generate(64, 64, 1)[0]
    out = n.KSampler().sample(model, seed, STEPS[family], FAST["cfg"], "euler", "normal", pos, neg, latent)[0]
    return n.VAEDecode().decode(vae, out)[0]


@pytest.mark.parametrize("family", ["sd15", "sdxl"])
def test_faceid_conditions_on_the_identity_through_a_patched_clone(tiny, family):
    if family == "sd15":  # the published .bin form (fp16, nested groups, LoRA inside)
        save_bin(faceid_state_dict("sd15"), tiny["root"] / "ipadapter" / "ip-adapter-faceid_sd15.bin")
    else:  # the flat .safetensors form, without LoRA
        sd = faceid_state_dict("sdxl", lora=False)
        save_flat_safetensors(sd, tiny["root"] / "ipadapter" / "ip-adapter-faceid_sdxl.safetensors")
    model = tiny["models"][family][0]
    before = _snapshot(model)
    astro, other = tiny["ids"][("buffalo_l", "astro")], tiny["ids"][("buffalo_l", "other")]
    kw = {"method": "IP-Adapter FaceID", "identity_strength": 1.0}
    a = _run(tiny, family, astro, **kw)[0]
    assert _snapshot(model) == before  # the input model's patches are unchanged
    assert not model.model_options.get("transformer_options", {}).get("patches_replace")
    b = _run(tiny, family, other, **kw)[0]
    assert float((a - b).abs().mean()) > 1e-3  # another identity → another image
    zero = _run(tiny, family, astro, method="IP-Adapter FaceID", identity_strength=0.0)[0]
    p = build_prompts("studio headshot", 1, 7)[0]
    stock = _stock(tiny, family, p.positive, p.negative, 7)
    assert torch.allclose(zero, stock, atol=1e-5)  # strength 0 == the model without any adapter
    assert float((a - stock).abs().mean()) > 1e-3


def test_faceid_lora_is_applied_on_the_clone_only(tiny):
    from portraitos.services import identity_adapters as ia

    path = save_bin(faceid_state_dict("sd15"), tiny["root"] / "ipadapter" / "ip-adapter-faceid_sd15.bin")
    adapter = ia.load_adapter(path)
    assert adapter.layout.kind == "faceid" and adapter.layout.lora_rank == 4 and adapter.layout.family == "SD 1.5"
    model = tiny["models"]["sd15"][0]
    sites = ia.check_adapter(adapter, "IP-Adapter FaceID", model)
    assert len(sites) == 16
    cond, uncond = ia.identity_tokens(adapter, tiny["ids"][("buffalo_l", "astro")].embedding)
    work = ia.patch_model(model, adapter, sites, cond, uncond, 1.0, 0.6)
    assert len(work.patches) == 16 * 2 * 4  # attn1 + attn2, q/k/v/out, every transformer block
    assert len(work.model_options["transformer_options"]["patches_replace"]["attn2"]) == 16
    assert not model.patches and "patches_replace" not in model.model_options.get("transformer_options", {})
    key = "diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"
    assert key in work.patches and work.model is model.model  # weights shared, patches only on the clone


def test_faceid_lora_from_models_loras_when_the_adapter_has_none(tiny):
    from safetensors.torch import save_file

    from portraitos.services import identity_adapters as ia

    _clear(tiny, "ipadapter")
    path = save_bin(faceid_state_dict("sd15", lora=False), tiny["root"] / "ipadapter" / "ip-adapter-faceid_sd15.bin")
    adapter = ia.load_adapter(path)
    assert adapter.layout.lora_rank is None and ia.separate_lora(path) is None
    model, sdxl = tiny["models"]["sd15"][0], tiny["models"]["sdxl"][0]
    lora = faceid_lora_state_dict(model)
    assert len(lora) == 16 * 2 * 4 * 2  # as published for SD 1.5: 256 tensors
    save_file(lora, str(tiny["root"] / "loras" / "ip-adapter-faceid_sd15_lora.safetensors"))
    assert ia.separate_lora(path).name == "ip-adapter-faceid_sd15_lora.safetensors"
    sites = ia.check_adapter(adapter, "IP-Adapter FaceID", model)
    cond, uncond = ia.identity_tokens(adapter, tiny["ids"][("buffalo_l", "astro")].embedding)
    work = ia.patch_model(model, adapter, sites, cond, uncond, 1.0, 0.6, ia.separate_lora(path))
    assert len(work.patches) == 128 and not model.patches
    save_file(faceid_lora_state_dict(sdxl), str(tiny["root"] / "loras" / "other_lora.safetensors"))
    with pytest.raises(AdapterError, match="another model family"):
        ia.patch_model(model, adapter, sites, cond, uncond, 1.0, 0.6, tiny["root"] / "loras" / "other_lora.safetensors")
    without = _run(tiny, "sd15", tiny["ids"][("buffalo_l", "astro")], method="IP-Adapter FaceID", lora_strength=0.0)
    with_lora = _run(tiny, "sd15", tiny["ids"][("buffalo_l", "astro")], method="IP-Adapter FaceID")
    assert float((without[0] - with_lora[0]).abs().mean()) > 1e-3  # the node applies it
    _clear(tiny, "loras")


def test_wrong_family_missing_files_and_wrong_face_pack_are_clear(tiny):
    astro = tiny["ids"][("buffalo_l", "astro")]
    _clear(tiny, "ipadapter")
    with pytest.raises(AdapterError, match=r"models/ipadapter.*huggingface.co/h94/IP-Adapter-FaceID"):
        _run(tiny, "sd15", astro, method="IP-Adapter FaceID")
    save_bin(faceid_state_dict("sd15"), tiny["root"] / "ipadapter" / "ip-adapter-faceid_sd15.bin")
    with pytest.raises(AdapterError, match=r"for SD 1\.5.*model is SDXL"):
        _run(tiny, "sdxl", astro, method="IP-Adapter FaceID", adapter_file="ip-adapter-faceid_sd15.bin")
    with pytest.raises(ValueError, match=r"face pack 'antelopev2'.*buffalo_l.*IdentityLoader"):
        _run(tiny, "sd15", tiny["ids"][("antelopev2", "astro")], method="IP-Adapter FaceID")
    portrait = faceid_state_dict("sd15", lora=False, tokens=16)
    save_bin(portrait, tiny["root"] / "ipadapter" / "ip-adapter-faceid-portrait_sd15.bin")
    # FaceID Portrait (16 tokens a face, no LoRA) is driven, not refused
    chosen = _run(tiny, "sd15", astro, method="IP-Adapter FaceID", adapter_file="ip-adapter-faceid-portrait_sd15.bin")
    assert bool(torch.isfinite(chosen[0]).all())
    (tiny["root"] / "ipadapter" / "ip-adapter-faceid-portrait_sd15.bin").unlink()
    _clear(tiny, "instantid")
    with pytest.raises(AdapterError, match=r"models/instantid.*InstantX/InstantID"):
        _run(tiny, "sdxl", tiny["ids"][("antelopev2", "astro")], method="InstantID")


# --- InstantID -----------------------------------------------------------------------------------


def test_instantid_with_identitynet_on_sdxl(tiny):
    ident = tiny["ids"][("antelopev2", "astro")]
    save_bin(instantid_state_dict(), tiny["root"] / "instantid" / "ip-adapter.bin")
    _clear(tiny, "controlnet")
    with pytest.raises(AdapterError, match=r"models/controlnet.*InstantX/InstantID"):
        _run(tiny, "sdxl", ident, method="InstantID")
    build_controlnet(tiny["root"] / "controlnet" / "instantid" / "diffusion_pytorch_model.safetensors")
    model = tiny["models"]["sdxl"][0]
    before = _snapshot(model)
    kw = {"method": "InstantID", "identity_strength": 0.8}
    full = _run(tiny, "sdxl", ident, **kw)[0]
    assert _snapshot(model) == before
    no_net = _run(tiny, "sdxl", ident, controlnet_strength=0.0, **kw)[0]
    assert float((full - no_net).abs().mean()) > 1e-3  # IdentityNet steers the image
    other = _run(tiny, "sdxl", tiny["ids"][("antelopev2", "other")], **kw)[0]
    assert float((full - other).abs().mean()) > 1e-3
    with pytest.raises(AdapterError, match=r"for SDXL.*model is SD 1\.5"):
        _run(tiny, "sd15", ident, **kw)
    with pytest.raises(ValueError, match=r"face pack 'buffalo_l'.*antelopev2"):
        _run(tiny, "sdxl", tiny["ids"][("buffalo_l", "astro")], **kw)


def test_identitynet_keypoints_come_from_the_identitys_best_face(tiny):
    """An identity made from a dark and a sharp photo: InstantID draws IdentityNet's keypoints from the
    sharp, well-lit one and the node's text says so; a one-photo identity has nothing to say."""
    save_bin(instantid_state_dict(), tiny["root"] / "instantid" / "ip-adapter.bin")
    _empty(tiny, "controlnet")
    build_controlnet(tiny["root"] / "controlnet" / "instantid" / "diffusion_pytorch_model.safetensors")
    fp = load_pack(tiny["faces"], "antelopev2", "CPU")
    dark = (_worse_photos()[0].numpy() * 255).round().astype(np.uint8)
    records = [analyse(fp, photo)[0] for photo in (dark, ASTRONAUT)]
    ident = build_identity("two", records, "antelopev2", [])
    model, clip, vae = tiny["models"]["sdxl"]
    inputs = {**FAST, "batch_size": 1, "seed": 7, "steps": STEPS["sdxl"], "method": "InstantID"}
    out = run_node(_node(tiny), model=model, clip=clip, vae=vae, identity=ident, **inputs)
    (line,) = out.ui["portraitos"][0]["values"]["reference"]
    assert line.startswith("IdentityNet keypoints: identity face 2 of 2 (yaw"), line
    assert out.ui["portraitos"][0]["lines"][0] == line
    one = run_node(
        _node(tiny), model=model, clip=clip, vae=vae, identity=tiny["ids"][("antelopev2", "astro")], **inputs
    )
    assert one.ui["portraitos"][0]["values"]["reference"] == []  # one photo: no choice to report
    used = one.ui["portraitos"][0]["values"]["used"]  # the files used are always said
    assert used[0].startswith("adapter: ip-adapter.bin (InstantID") and used[1] == (
        "IdentityNet: instantid/diffusion_pytorch_model.safetensors"
    )


def test_auto_tries_candidates_in_order_and_reports_the_ones_it_skipped(tiny, caplog):
    """ "auto" finds IdentityNet under its published name (diffusion_pytorch_model.safetensors, straight
    into models/controlnet/) and goes past unreadable files, logging each one it skipped and why and
    showing them as warnings on the node."""
    import shutil

    from portraitos.services import identity_adapters as ia

    ident = tiny["ids"][("antelopev2", "astro")]
    for folder in ("controlnet", "instantid"):
        for p in (tiny["root"] / folder).iterdir():
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    save_bin(instantid_state_dict(), tiny["root"] / "instantid" / "ip-adapter.bin")
    (tiny["root"] / "instantid" / "aaa-broken.bin").write_bytes(b"not a checkpoint")
    build_controlnet(tiny["root"] / "controlnet" / "diffusion_pytorch_model.safetensors")
    (tiny["root"] / "controlnet" / "instantid_broken.safetensors").write_bytes(b"\x00" * 64)
    assert ia.adapter_candidates("InstantID", "SDXL") == ["aaa-broken.bin", "ip-adapter.bin"]
    assert ia.controlnet_candidates() == ["instantid_broken.safetensors", "diffusion_pytorch_model.safetensors"]
    with caplog.at_level("WARNING", logger="PortraitOS"):
        model, clip, vae = tiny["models"]["sdxl"]
        inputs = {**FAST, "batch_size": 1, "seed": 7, "steps": STEPS["sdxl"]}
        result = run_node(
            _node(tiny),
            model=model,
            clip=clip,
            vae=vae,
            identity=ident,
            method="InstantID",
            identity_strength=0.8,
            **inputs,
        )
        out = result.args
    assert torch.isfinite(out[0]).all()
    shown = result.ui["portraitos"][0]["warnings"]
    assert any(w.startswith("adapter_file auto skipped aaa-broken.bin") for w in shown), shown
    assert any(w.startswith("controlnet_file auto skipped instantid_broken.safetensors") for w in shown), shown
    logged = caplog.text
    assert "adapter_file auto skipped aaa-broken.bin: aaa-broken.bin could not be read" in logged, logged
    assert "controlnet_file auto skipped instantid_broken.safetensors" in logged, logged
    (tiny["root"] / "instantid" / "ip-adapter.bin").unlink()
    with pytest.raises(AdapterError, match=r"no usable InstantID adapter.*tried in order: aaa-broken.bin"):
        _run(tiny, "sdxl", ident, method="InstantID", identity_strength=0.8)
    for p in [
        tiny["root"] / "instantid" / "aaa-broken.bin",
        tiny["root"] / "controlnet" / "instantid_broken.safetensors",
    ]:
        p.unlink()


# --- IdentityScore -------------------------------------------------------------------------------


def test_identity_score_ranks_same_face_first_and_marks_failures(tiny):
    import folder_paths

    saved = list(folder_paths.folder_names_and_paths["insightface"][0])
    folder_paths.folder_names_and_paths["insightface"][0][:] = [str(tiny["faces"])]
    try:
        other = ASTRONAUT.copy()
        other[..., 0] = 255 - other[..., 0]
        batch = torch.from_numpy(np.stack([np.zeros_like(ASTRONAUT), other, ASTRONAUT])).float() / 255
        cls = tiny["nodes"].NODE_CLASS_MAPPINGS["IdentityScore"]
        ident = tiny["ids"][("buffalo_l", "astro")]
        out = run_node(cls, images=batch, identity=ident, threshold=0.99).args
        images, scores, failed, report = out
        assert (
            torch.equal(images[0], batch[2]) and torch.equal(images[1], batch[1]) and torch.equal(images[2], batch[0])
        )
        assert scores[0] == pytest.approx(1.0, abs=1e-4)  # the identity's own photo
        assert scores[0] > scores[1] and np.isnan(scores[2])  # another face lower; a black frame has none
        assert failed.shape == (3, 512, 512) and failed[:, 0, 0].tolist() == [0.0, 1.0, 1.0]
        assert "no face" in report.splitlines()[2]
        loose = run_node(cls, images=batch, identity=ident, threshold=-1.0).args[2]
        assert loose[:, 0, 0].tolist() == [0.0, 0.0, 1.0]  # a missing face fails at any threshold
    finally:
        folder_paths.folder_names_and_paths["insightface"][0][:] = saved


def test_identity_nodes_on_photos_no_detector_can_search(tiny):
    """A 16×16384 strip or a 20×20 thumbnail: IdentityScore marks those images failed instead of failing
    the batch; analysing one for an identity says what is wrong with it (not OpenCV's resize error)."""
    import folder_paths

    from portraitos.engine.faces import analyse
    from portraitos.services.face_packs import face_pack

    saved = list(folder_paths.folder_names_and_paths["insightface"][0])
    folder_paths.folder_names_and_paths["insightface"][0][:] = [str(tiny["faces"])]
    try:
        cls = tiny["nodes"].NODE_CLASS_MAPPINGS["IdentityScore"]
        ident = tiny["ids"][("buffalo_l", "astro")]
        for shape in ((2, 16, 16384, 3), (1, 20, 20, 3)):
            _images, scores, failed, report = run_node(
                cls, images=torch.rand(shape), identity=ident, threshold=0.5
            ).args
            assert all(np.isnan(s) for s in scores) and failed.min() == 1.0 and "no face" in report
        pack = face_pack("buffalo_l", "CPU")
        with pytest.raises(Exception, match="too long and thin to find a face"):
            analyse(pack, np.zeros((40, 16384, 3), np.uint8))
        with pytest.raises(Exception, match="too small to find a face"):
            analyse(pack, np.zeros((20, 20, 3), np.uint8))
    finally:
        folder_paths.folder_names_and_paths["insightface"][0][:] = saved


# --- issue 24: defaults from what is connected, IdentityNet by its published name, attention, memory ------


def test_default_method_follows_the_identitys_face_pack(tiny):
    """A fresh PortraitGenerate (method left at its default) takes the identity the shipped selfie workflows
    create (antelopev2 → InstantID on SDXL) and a buffalo_l one (→ FaceID), instead of refusing one of them."""
    from portraitos.engine.generation import method_for

    node = _node(tiny)
    default = node.define_schema().inputs[4]
    assert default.id == "method" and default.default == "auto"
    assert method_for("auto", "antelopev2", "SDXL") == "InstantID"
    assert method_for("auto", "buffalo_l", "SD 1.5") == "IP-Adapter FaceID"
    with pytest.raises(AdapterError, match="InstantID needs SDXL.*buffalo_l"):
        method_for("auto", "antelopev2", "SD 1.5")
    _clear(tiny, "ipadapter")
    save_bin(faceid_state_dict("sd15"), tiny["root"] / "ipadapter" / "ip-adapter-faceid_sd15.bin")
    auto = _run(tiny, "sd15", tiny["ids"][("buffalo_l", "astro")], method="auto")[0]
    faceid = _run(tiny, "sd15", tiny["ids"][("buffalo_l", "astro")], method="IP-Adapter FaceID")[0]
    assert torch.equal(auto, faceid)


def test_sd15_gets_its_own_size_and_guidance_when_the_widgets_are_left_alone(tiny, caplog):
    """SD 1.5 with the widgets at their (SDXL) defaults samples 512×768 at cfg 7.5, as the references do;
    a size or cfg the user typed is kept."""
    from portraitos.engine.generation import effective_settings
    from portraitos.engine.generation.defaults import WIDGET_DEFAULTS

    settings, notes = effective_settings(dict(WIDGET_DEFAULTS), "SD 1.5")
    assert (settings["width"], settings["height"], settings["cfg"]) == (512, 768, 7.5) and len(notes) == 3
    assert effective_settings(dict(WIDGET_DEFAULTS), "SDXL")[0] == WIDGET_DEFAULTS
    typed = {**WIDGET_DEFAULTS, "width": 640, "cfg": 6.0}
    kept = effective_settings(typed, "SD 1.5")[0]
    assert (kept["width"], kept["height"], kept["cfg"]) == (640, 768, 6.0)
    ident = tiny["ids"][("buffalo_l", "astro")]
    kw = {"method": "keep face", "photo": _photo(), "steps": 1, "width": 832, "height": 1216, "cfg": 5.0}
    with caplog.at_level("INFO", logger="PortraitOS"):
        images, latent, _ = _run(tiny, "sd15", ident, **kw)
    assert images.shape == (1, 768, 512, 3) and latent["samples"].shape == (1, 4, 96, 64)
    assert "cfg 5.0 → 7.5" in caplog.text


def test_fast_setting_replaces_only_the_sampling_widgets_left_alone():
    from portraitos.engine.generation import effective_settings
    from portraitos.engine.generation.defaults import FAST, FAST_LCM, WIDGET_DEFAULTS

    fast = effective_settings(dict(WIDGET_DEFAULTS), "SDXL", FAST)[0]
    assert (fast["steps"], fast["cfg"], fast["sampler_name"], fast["scheduler"]) == (6, 1.0, "euler", "sgm_uniform")
    lcm = effective_settings({**WIDGET_DEFAULTS, "steps": 4}, "SD 1.5", FAST_LCM)[0]
    assert (lcm["steps"], lcm["cfg"], lcm["sampler_name"], lcm["width"]) == (4, 1.0, "lcm", 512)
    import comfy.samplers

    assert {"euler", "lcm"} <= set(comfy.samplers.KSampler.SAMPLERS)
    assert "sgm_uniform" in comfy.samplers.KSampler.SCHEDULERS


def _empty(tiny, folder):
    import shutil

    for p in (tiny["root"] / folder).iterdir():
        shutil.rmtree(p) if p.is_dir() else p.unlink()


def test_identitynet_as_published_diffusers_layout_straight_in_models_controlnet(tiny):
    """The published IdentityNet (diffusers ControlNetModel names, fp16, config.json next to it) dropped
    straight into models/controlnet/ under its published name is found by auto and converted by ComfyUI's
    own loader into the same network as the ldm-named one; two candidates are a clear error."""
    import comfy.controlnet

    from portraitos.services import identity_adapters as ia
    from portraitos.testing.tiny_diffusion_models import build_diffusers_identitynet

    _empty(tiny, "controlnet")
    _empty(tiny, "instantid")
    save_bin(instantid_state_dict(), tiny["root"] / "instantid" / "ip-adapter.bin")
    path = build_diffusers_identitynet(tiny["root"] / "controlnet" / "diffusion_pytorch_model.safetensors")
    ldm = build_controlnet(tiny["root"] / "ldm_reference.safetensors")
    net = comfy.controlnet.load_controlnet(str(path))
    ref = comfy.controlnet.load_controlnet(str(ldm))
    a, b = net.control_model.state_dict(), ref.control_model.state_dict()
    assert a.keys() == b.keys() and all(torch.allclose(a[k].float(), b[k].float(), atol=1e-3) for k in a)
    model = tiny["models"]["sdxl"][0]
    context = ia.unet_sites(model)[0].context
    assert ia.pick_identitynet(context) == ("diffusion_pytorch_model.safetensors", [])
    ident = tiny["ids"][("antelopev2", "astro")]
    out = _run(tiny, "sdxl", ident, method="InstantID", identity_strength=0.8)[0]
    assert torch.isfinite(out).all()
    # a second published-name file (another ControlNet in a subfolder): which one is meant is asked
    build_diffusers_identitynet(tiny["root"] / "controlnet" / "other" / "diffusion_pytorch_model.safetensors")
    with pytest.raises(
        AdapterError,
        match=r"2 files in models/controlnet/ could be InstantID's IdentityNet.*"
        r"choose the right one in controlnet_file",
    ):
        _run(tiny, "sdxl", ident, method="InstantID", identity_strength=0.8)
    # a file named for InstantID wins over published names; an SD 1.5-width ControlNet is ruled out
    (tiny["root"] / "controlnet" / "other" / "diffusion_pytorch_model.safetensors").rename(
        tiny["root"] / "controlnet" / "instantid_identitynet.safetensors"
    )
    name, skipped = ia.pick_identitynet(context)
    assert name == "instantid_identitynet.safetensors" and skipped == []
    assert "text tokens" in ia.identitynet_layout_problem(path, 768)
    _empty(tiny, "controlnet")
    (tiny["root"] / "ldm_reference.safetensors").unlink()


def test_identity_attention_uses_transformer_options_and_chains_with_another_packs_patch(tiny, monkeypatch):
    """The identity's attn2 patch calls optimized_attention with the call's transformer_options (so an
    attention override set on the model runs), and another pack's attn2 patch on the same layers still runs
    (its result stands for the text attention)."""
    import comfy.ldm.modules.attention as attention

    _clear(tiny, "ipadapter")
    save_bin(faceid_state_dict("sd15"), tiny["root"] / "ipadapter" / "ip-adapter-faceid_sd15.bin")
    model = tiny["models"]["sd15"][0]
    calls = {"other": 0, "override": 0}

    def other_pack(q, k, v, extra):  # another pack's replacement on every transformer block of input 1
        calls["other"] += 1
        return attention.optimized_attention(q, k, v, extra["n_heads"]) * 0.5

    def override(func, *args, **kwargs):  # what an attention-override node registers
        calls["override"] += 1
        return func(*args, **kwargs)

    patched = model.clone()
    patched.set_model_attn2_replace(other_pack, "input", 1)
    patched.model_options["transformer_options"]["optimized_attention_override"] = override
    ident = tiny["ids"][("buffalo_l", "astro")]
    kw = {"method": "IP-Adapter FaceID", "identity_strength": 1.0, "lora_strength": 0.0}
    m, clip, vae = tiny["models"]["sd15"]
    out = run_node(
        _node(tiny), model=patched, clip=clip, vae=vae, identity=ident, **{**FAST, "batch_size": 1, "seed": 7, **kw}
    ).args[0]
    assert calls["other"] > 0 and calls["override"] > 0
    calls["other"] = 0
    plain = run_node(
        _node(tiny), model=model, clip=clip, vae=vae, identity=ident, **{**FAST, "batch_size": 1, "seed": 7, **kw}
    ).args[0]
    assert calls["other"] == 0 and float((out - plain).abs().mean()) > 1e-4  # the other pack's patch changed it


def test_memory_plan_counts_everything_the_sampler_holds(tiny, monkeypatch):
    """On ComfyUI's own accounting (model_size, memory_required, get_free_memory), the plan counts the
    UNet, the adapter, the IdentityNet and the LoRA's patches as weights, and the activations of every image
    twice with CFG: with free memory for the UNet and 3 images, InstantID fits fewer at once."""
    import comfy.model_management as mm

    from portraitos.services import identity_adapters as ia
    from portraitos.services import sampling
    from portraitos.testing.tiny_diffusion_models import build_diffusers_identitynet

    _empty(tiny, "controlnet")
    _empty(tiny, "instantid")
    save_bin(instantid_state_dict(), tiny["root"] / "instantid" / "ip-adapter.bin")
    build_diffusers_identitynet(tiny["root"] / "controlnet" / "diffusion_pytorch_model.safetensors")
    model = tiny["models"]["sdxl"][0]
    ident = tiny["ids"][("antelopev2", "astro")]
    patch = ia.apply_identity(model, ident, "InstantID", 0.8, width=64, height=64)
    mm.unload_all_models()  # nothing on the compute device yet: every weight is to be loaded
    shape = (1, 4, 8, 8)
    bare = sampling.plan_memory(model, shape, 5.0)
    full = sampling.plan_memory(patch.model, shape, 5.0, [patch.control], patch.lora_bytes)
    unet = model.model_size()
    adapter = patch.adapter.patcher.model_size()
    net = patch.control.control_model_wrapped.model_size()
    assert bare.weights == unet and full.weights == unet + adapter + net
    assert adapter > 0 and net > 0
    no_cfg = sampling.plan_memory(model, shape, 1.0)
    cfg_pass = bare.per_image - no_cfg.per_image
    assert cfg_pass == pytest.approx(model.memory_required([1, *shape[1:]]), abs=2)  # CFG doubles the UNet's
    assert full.per_image > bare.per_image  # the IdentityNet's activations
    free = int(unet + 3 * bare.per_image / sampling.HEADROOM) + 1
    monkeypatch.setattr(mm, "get_free_memory", lambda dev=None, torch_free_too=False: free)
    assert sampling.plan_memory(model, shape, 5.0).images_at_once(20) == 3
    assert sampling.plan_memory(patch.model, shape, 5.0, [patch.control]).images_at_once(20) < 3
    faceid_sd = faceid_state_dict("sd15")
    _clear(tiny, "ipadapter")
    save_bin(faceid_sd, tiny["root"] / "ipadapter" / "ip-adapter-faceid_sd15.bin")
    sd15 = tiny["models"]["sd15"][0]
    fp = ia.apply_identity(sd15, tiny["ids"][("buffalo_l", "astro")], "IP-Adapter FaceID", 1.0)
    lora_tensors = sum(v.numel() * 2 for k, v in faceid_sd["ip_adapter"].items() if "_lora." in k)
    assert fp.lora_bytes >= lora_tensors  # the LoRA's up/down weights (fp16 in the file)
    with_lora = sampling.plan_memory(fp.model, shape, 5.0, [], fp.lora_bytes)
    assert with_lora.weights == sd15.model_size() + fp.adapter.patcher.model_size() + fp.lora_bytes
    _empty(tiny, "controlnet")


def test_instantid_prompts_do_not_ask_for_another_head_pose():
    prompts = build_prompts("studio headshot", 20, 0, fixed_pose=True)
    assert not any("three-quarter view" in p.positive or "different angle" in p.positive for p in prompts)
    assert any("three-quarter view" in p.positive for p in build_prompts("studio headshot", 20, 0))
