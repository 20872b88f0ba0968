"""The pack loaded by ComfyUI's own loader in this process; nodes executed through their V3 classes."""

import numpy as np
import pytest
import torch

from portraitos.engine.depth import DepthMap
from portraitos.engine.lens import HighlightRebuild
from portraitos.testing.comfy_host import run_node


def test_loader_registers_every_node(comfy_nodes):
    for name in ("DepthLoad", "LensBokeh", "LightingTint"):
        assert name in comfy_nodes.NODE_CLASS_MAPPINGS, f"{name} not registered by ComfyUI's loader"
    info = comfy_nodes.NODE_CLASS_MAPPINGS["LensBokeh"].INPUT_TYPES()
    req = info["required"]
    for key in (
        "image",
        "depth",
        "focal_length_mm",
        "f_number",
        "focus_distance_m",
        "sensor",
        "aperture_blades",
        "blade_rotation_deg",
        "blade_curvature",
        "highlight_threshold",
        "highlight_boost",
    ):
        assert key in req
    assert set(info["optional"]) == {"focus_mask", "lighting", "focus_point", "depth_lens", "preview", "lens_profile"}
    assert req["f_number"][1]["default"] == pytest.approx(1.8)
    assert req["focal_length_mm"][1]["default"] == pytest.approx(85.0)
    # the light-brightness prior: one control, named for what it means, at the engine's default
    assert req["highlight_boost"][1]["default"] == pytest.approx(HighlightRebuild().boost)
    assert req["highlight_boost"][1].get("display_name") == "light brightness"


def test_depth_load_reads_npy_and_previews(comfy_nodes, comfy_dirs):
    input_dir, _ = comfy_dirs
    d = np.full((24, 32), 5.0, dtype=np.float32)
    d[:, :16] = 2.0
    np.save(input_dir / "two_planes.npy", d)
    cls = comfy_nodes.NODE_CLASS_MAPPINGS["DepthLoad"]
    assert "two_planes.npy" in cls.INPUT_TYPES()["required"]["depth"][1]["options"]
    out = run_node(cls, depth="two_planes.npy", scale=1.0)
    depth, preview = out.args
    assert isinstance(depth, DepthMap)  # one class: ComfyUI and the tests share portraitos.engine
    assert depth.metres.shape == (1, 24, 32)
    assert torch.allclose(depth.metres[0], torch.from_numpy(d))
    assert preview.shape == (1, 24, 32, 3)
    assert preview[0, 0, 0, 0] > 0.99 and preview[0, 0, -1, 0] < 0.01  # near = white, far = black


def test_depth_load_scale_and_hostile_names(comfy_nodes, comfy_dirs):
    input_dir, _ = comfy_dirs
    np.save(input_dir / "mm.npy", np.full((8, 8), 2500.0, dtype=np.float32))
    cls = comfy_nodes.NODE_CLASS_MAPPINGS["DepthLoad"]
    depth, _ = run_node(cls, depth="mm.npy", scale=0.001).args
    assert torch.allclose(depth.metres, torch.full((1, 8, 8), 2.5))
    for bad in ("../../etc/passwd", "/etc/passwd", "missing.npy", ""):
        msg = cls.validate_inputs(depth=bad)
        assert isinstance(msg, str) and msg, bad


def test_lens_bokeh_executes_in_process(comfy_nodes):
    cls = comfy_nodes.NODE_CLASS_MAPPINGS["LensBokeh"]
    img = torch.rand(2, 48, 64, 3)
    depth = torch.full((1, 48, 64), 6.0)
    depth[:, 12:36, 20:44] = 2.0
    out = run_node(cls, image=img, depth=DepthMap(depth), focal_length_mm=85.0, f_number=1.8, focus_distance_m=2.0)
    image, coc, in_focus, focus = out.args
    assert image.shape == (2, 48, 64, 3) and coc.shape == (2, 48, 64) and in_focus.shape == (2, 48, 64)
    assert focus == pytest.approx(2.0)
    assert bool(torch.isfinite(image).all())
    # the in-focus block is untouched (up to sRGB round trip), the background is blurred
    assert torch.allclose(image[:, 16:32, 24:40], img[:, 16:32, 24:40], atol=2e-3)
    assert image[:, :8].std() < img[:, :8].std() * 0.7
    assert float(in_focus[0, 24, 32]) == 1.0 and float(in_focus[0, 2, 2]) == 0.0
    assert "text" in out.ui and "images" in out.ui


def test_lens_bokeh_rejects_focus_inside_focal_length(comfy_nodes):
    cls = comfy_nodes.NODE_CLASS_MAPPINGS["LensBokeh"]
    msg = cls.validate_inputs(focal_length_mm=85.0, focus_distance_m=0.05)
    assert isinstance(msg, str) and "focal length" in msg


def test_depth_estimate_lists_and_loads_models_through_the_node(comfy_nodes, tmp_path):
    """Tiny networks saved into registered model folders are listed, loaded by the node's real code path,
    cached between runs and left on the offload device."""
    import folder_paths
    from safetensors.torch import save_file

    from portraitos.testing.tiny_depth_models import (
        save_hf_folder,
        tiny_depth_anything,
        tiny_depth_pro,
        to_original_layout,
    )

    depth_dir, da_dir = tmp_path / "depth", tmp_path / "depthanything"
    da_dir.mkdir(parents=True)
    model = tiny_depth_anything()
    save_hf_folder(model, depth_dir / "tiny-da", 518)
    save_hf_folder(tiny_depth_pro(), depth_dir / "tiny-pro", 256)
    save_file(to_original_layout(model), str(da_dir / "depth_anything_v2_vits_tiny.safetensors"))
    folder_paths.add_model_folder_path("depth", str(depth_dir))
    folder_paths.add_model_folder_path("depthanything", str(da_dir))

    cls = comfy_nodes.NODE_CLASS_MAPPINGS["DepthEstimate"]
    options = cls.INPUT_TYPES()["required"]["model"][1]["options"]
    assert options[0] == "portrait prior (no weights)"
    for name in ("depth/tiny-da", "depth/tiny-pro", "depthanything/depth_anything_v2_vits_tiny.safetensors"):
        assert name in options
    img = torch.rand(2, 64, 96, 3)
    import comfy.model_management as mm

    from portraitos.services import depth_networks as networks

    outs = {}
    for name in ("depth/tiny-da", "depthanything/depth_anything_v2_vits_tiny.safetensors", "depth/tiny-pro"):
        depth, preview, mask = run_node(
            cls, image=img, model=name, subject_distance_m=2.0, background_distance_m=6.0
        ).args
        assert depth.metres.shape == (2, 64, 96) and preview.shape == (2, 64, 96, 3) and mask.shape == (2, 64, 96)
        assert bool(torch.isfinite(depth.metres).all()) and float(depth.metres.min()) > 0
        net, patcher = networks.CACHE.peek(networks.CACHE_KIND, (name, "torch.float32"))
        # handed to ComfyUI's memory manager, which can unload it when another model needs the room
        assert any(loaded.model is patcher for loaded in mm.current_loaded_models)
        mm.unload_all_models()
        assert not any(loaded.model is patcher for loaded in mm.current_loaded_models)
        assert next(net.model.parameters()).device == mm.unet_offload_device()
        again = run_node(cls, image=img, model=name, subject_distance_m=2.0, background_distance_m=6.0).args[0]
        assert networks.CACHE.peek(networks.CACHE_KIND, (name, "torch.float32"))[0] is net  # cached, not reloaded
        assert torch.equal(again.metres, depth.metres)  # deterministic
        outs[name] = depth.metres
    single = outs["depthanything/depth_anything_v2_vits_tiny.safetensors"]
    assert torch.allclose(outs["depth/tiny-da"], single, rtol=1e-4)
    from portraitos.services.validation import MissingModel

    with pytest.raises(MissingModel, match="^depth model folder 'missing-model' not found: put config.json"):
        cls.validate_inputs(model="depth/missing-model")  # raised: ComfyUI reports it once


def test_identity_loader_creates_then_loads_by_name(comfy_nodes, tmp_path):
    import folder_paths
    from skimage import data

    from portraitos.testing.tiny_face_models import build_pack

    build_pack(tmp_path / "insightface")
    folder_paths.add_model_folder_path("insightface", str(tmp_path / "insightface"), is_default=True)
    folder_paths.add_model_folder_path("identities", str(tmp_path / "identities"), is_default=True)
    cls = comfy_nodes.NODE_CLASS_MAPPINGS["IdentityLoader"]
    req = cls.INPUT_TYPES()["required"]
    assert "tinypack" in req["face_model"][1]["options"]
    assert req["mode"][1]["options"] == ["create", "update", "load", "restore previous"]
    img = torch.from_numpy(data.astronaut()).float()[None] / 255
    ident, crop, preview = run_node(cls, mode="create", name="astro", face_model="tinypack", image=img).args
    assert (tmp_path / "identities" / "astro.safetensors").is_file()
    assert crop.shape == (1, 224, 224, 3) and preview.shape == (1, 512, 512, 3)
    assert "astro" in cls.INPUT_TYPES()["required"]["stored_identity"][1]["options"]
    loaded = run_node(cls, mode="load", stored_identity="astro").args[0]
    assert torch.equal(loaded.embedding, ident.embedding)
    assert isinstance(cls.validate_inputs(mode="create", name="../evil"), str)
    same = run_node(cls, mode="create", name="astro", face_model="tinypack", image=img).args[0]
    assert torch.equal(same.embedding, ident.embedding)  # re-queued: the stored identity
    with pytest.raises(Exception, match="already exists"):
        run_node(cls, mode="create", name="astro", face_model="tinypack", image=img.flip(2))
    twice = run_node(cls, mode="update", name="astro", face_model="tinypack", image=img).args[0]
    assert twice.count == 2


def test_depth_precision_casts_the_network_on_a_gpu_device(comfy_nodes, tmp_path, monkeypatch):
    """The precision dropdown is the dtype the network runs in (off the CPU); fp32 on the CPU."""
    import comfy.model_management as mm
    import folder_paths

    from portraitos.testing.tiny_depth_models import save_hf_folder, tiny_depth_anything

    save_hf_folder(tiny_depth_anything(), tmp_path / "depth" / "tiny-bf16", 518)
    folder_paths.add_model_folder_path("depth", str(tmp_path / "depth"))
    from portraitos.services import depth_networks as networks

    net, _ = networks.load_network("depth/tiny-bf16", "bf16")
    assert {p.dtype for p in net.model.parameters()} == {torch.float32}  # this machine computes on the CPU
    monkeypatch.setattr(mm, "get_torch_device", lambda: torch.device("meta"))  # as if on a GPU
    net, patcher = networks.load_network("depth/tiny-bf16", "bf16")
    assert {p.dtype for p in net.model.parameters()} == {torch.bfloat16}
    assert patcher.load_device == torch.device("meta")


def test_group_photo_people_in_the_depth_readout_and_in_lens_bokehs_focus(comfy_nodes):
    """InsightFace's t1.jpg through DepthEstimate (the prior) and LensBokeh: the read-out lists the six
    people, auto focus says whose eyes it used, a focus point on another person focuses on her."""
    import os

    import insightface
    from PIL import Image

    path = os.path.join(os.path.dirname(insightface.__file__), "data", "images", "t1.jpg")
    img = torch.from_numpy(np.array(Image.open(path).convert("RGB"))).float()[None] / 255
    depth, _, _ = out = run_node(
        comfy_nodes.NODE_CLASS_MAPPINGS["DepthEstimate"],
        image=img,
        model="portrait prior (no weights)",
        subject_distance_m=0.0,
        background_distance_m=6.0,
    )
    text = out.ui["text"][0]
    people = depth.meta["people"]
    assert len(people) == 6 and "6 people (person 1 is the subject, nearest first):" in text
    for p in people:
        assert f"person {p['person']}: {p['distance_m']:.2f} m (" in text
    lens = comfy_nodes.NODE_CLASS_MAPPINGS["LensBokeh"]
    auto = run_node(lens, image=img, depth=depth, focal_length_mm=85.0, f_number=1.8, focus_distance_m=0.0)
    assert " m (eyes of person 1 of 6 (nearest))" in auto.ui["text"][0]
    assert auto.args[3] == pytest.approx(people[0]["distance_m"], rel=0.01)
    far = people[-1]
    x, y = far["eye_xy"][0]
    picked = run_node(
        lens, image=img, depth=depth, focal_length_mm=85.0, f_number=1.8, focus_distance_m=0.0, focus_point=f"{x},{y}"
    )
    assert f"(focus point (on person {far['person']} of 6))" in picked.ui["text"][0]
    assert picked.args[3] == pytest.approx(far["distance_m"], rel=0.03)


def test_lighting_tint_takes_the_key_from_the_depths_soft_alpha(comfy_nodes):
    """A DEPTH carrying the people's soft alpha: LightingTint gives hair the key by its alpha and the
    background beside it none (the same pixels as with the ambient everywhere)."""
    h, w = 48, 64
    img = torch.full((1, h, w, 3), 0.45)
    alpha = torch.zeros(1, h, w)
    alpha[0, :, :30] = 1.0
    alpha[0, :, 30:36] = torch.linspace(0.8, 0.2, 6)
    metres = torch.where(alpha > 0.5, torch.tensor(1.5), torch.tensor(6.0))
    node = comfy_nodes.NODE_CLASS_MAPPINGS["LightingTint"]
    out = run_node(node, image=img, preset="warm cinematic", depth=DepthMap(metres, layer_alpha=alpha)).args[0]
    ambient = run_node(node, image=img, preset="warm cinematic", subject_mask=torch.zeros(1, h, w)).args[0]
    key = run_node(node, image=img, preset="warm cinematic").args[0]
    assert torch.allclose(out[0, :, 40:], ambient[0, :, 40:], atol=2e-3)  # beside the hair: no warm rim
    assert torch.allclose(out[0, :, :20], key[0, :, :20], atol=2e-3)
    mid = out[0, 24, 30:36, 0]
    assert bool((mid[1:] < mid[:-1]).all())  # the key thins out with the strands
