"""The generation engine without ComfyUI: adapter recognition on the published shapes (as shape-only
"meta" tensors: no weights are needed to check a layout), the projection models, the keypoint image
and the keep-face mask."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from portraitos.engine.generation import (
    AdapterError,
    FaceIDPlusProjection,
    MLPProjection,
    Resampler,
    build_projection,
    check_family,
    check_supported,
    detect_layout,
    draw_keypoints,
    frame_photo,
    keep_mask,
    split_groups,
)

# attn2 widths in processor order (down, up, mid) of the published UNets
SD15 = [320, 320, 640, 640, 1280, 1280] + [1280] * 3 + [640] * 3 + [320] * 3 + [1280]
SDXL = [640] * 4 + [1280] * 20 + [1280] * 30 + [640] * 6 + [1280] * 10


def meta(*shape):
    return torch.empty(shape, device="meta")


def ip_group(hidden, ctx, lora_rank=None):
    ip = {}
    for i, h in enumerate(hidden):
        ip[f"{2 * i + 1}.to_k_ip.weight"] = meta(h, ctx)
        ip[f"{2 * i + 1}.to_v_ip.weight"] = meta(h, ctx)
        if lora_rank:
            for n in (2 * i, 2 * i + 1):
                for p in ("to_q", "to_k", "to_v", "to_out"):
                    d_in = ctx if (n % 2 and p in ("to_k", "to_v")) else h
                    ip[f"{n}.{p}_lora.down.weight"] = meta(lora_rank, d_in)
                    ip[f"{n}.{p}_lora.up.weight"] = meta(h, lora_rank)
    return ip


def mlp_proj(ctx, tokens):
    return {
        "proj.0.weight": meta(1024, 512),
        "proj.0.bias": meta(1024),
        "proj.2.weight": meta(ctx * tokens, 1024),
        "proj.2.bias": meta(ctx * tokens),
        "norm.weight": meta(ctx),
        "norm.bias": meta(ctx),
    }


def resampler_proj(dim=1280, out=2048, queries=16, depth=4, embedding=512, plus=False):
    p = {} if plus else {"latents": meta(1, queries, dim)}
    pre = "perceiver_resampler." if plus else ""
    p.update(
        {
            f"{pre}proj_in.weight": meta(dim, embedding),
            f"{pre}proj_in.bias": meta(dim),
            f"{pre}proj_out.weight": meta(out, dim),
            f"{pre}proj_out.bias": meta(out),
            f"{pre}norm_out.weight": meta(out),
            f"{pre}norm_out.bias": meta(out),
        }
    )
    for n in range(depth):
        for k in ("0.norm1", "0.norm2", "1.0"):
            p[f"{pre}layers.{n}.{k}.weight"] = meta(dim)
            p[f"{pre}layers.{n}.{k}.bias"] = meta(dim)
        p[f"{pre}layers.{n}.0.to_q.weight"] = meta(dim, dim)
        p[f"{pre}layers.{n}.0.to_kv.weight"] = meta(2 * dim, dim)
        p[f"{pre}layers.{n}.0.to_out.weight"] = meta(dim, dim)
        p[f"{pre}layers.{n}.1.1.weight"] = meta(4 * dim, dim)
        p[f"{pre}layers.{n}.1.3.weight"] = meta(dim, 4 * dim)
    return p


def numel(group):
    return sum(t.numel() for t in group.values())


def test_instantid_published_layout_is_recognised_to_the_parameter():
    proj, ip = resampler_proj(), ip_group(SDXL, 2048)
    assert (len(proj), len(ip)) == (51, 140)
    assert (numel(proj), numel(ip)) == (81_978_624, 340_787_200)  # the published ip-adapter.bin, fp32
    layout = detect_layout(proj, ip)
    assert (layout.kind, layout.family, layout.tokens, layout.token_width) == ("instantid", "SDXL", 16, 2048)
    assert layout.face_pack == "antelopev2" and layout.lora_rank is None
    check_supported(layout, "InstantID")
    check_family(layout, "SDXL", SDXL, 2048)
    with pytest.raises(AdapterError, match=r"InstantID for SDXL .*70 cross-attention layers.*model is SD 1\.5"):
        check_family(layout, "SD 1.5", SD15, 768)
    with torch.device("meta"):
        model = build_projection("instantid", proj)
    assert isinstance(model, Resampler) and sum(p.numel() for p in model.parameters()) == 81_978_624


@pytest.mark.parametrize(
    ("hidden", "ctx", "family"),
    [(SD15, 768, "SD 1.5"), (SDXL, 2048, "SDXL")],
)
def test_faceid_published_layouts(hidden, ctx, family):
    proj, ip = mlp_proj(ctx, 4), ip_group(hidden, ctx, lora_rank=128)
    layout = detect_layout(proj, ip)
    assert (layout.kind, layout.family, layout.tokens, layout.lora_rank) == ("faceid", family, 4, 128)
    assert layout.face_pack == "buffalo_l" and layout.layers == len(hidden)
    if family == "SD 1.5":
        # ip-adapter-faceid_sd15.bin is 96.7 MB of fp16: 48.3 M parameters in this layout
        assert 2 * (numel(proj) + numel(ip)) == pytest.approx(96.7e6, rel=0.01)
    check_supported(layout, "IP-Adapter FaceID")
    with pytest.raises(AdapterError, match="needs an InstantID adapter"):
        check_supported(layout, "InstantID")
    # the flat .safetensors form splits back into the same groups
    flat = {**{f"image_proj.{k}": v for k, v in proj.items()}, **{f"ip_adapter.{k}": v for k, v in ip.items()}}
    p2, ip2 = split_groups(flat)
    assert p2.keys() == proj.keys() and ip2.keys() == ip.keys()


def test_faceid_portrait_and_portrait_unnorm_are_accepted_and_told_apart_from_instantid():
    """FaceID Portrait (MLP, 16 tokens a face, no LoRA) drives FaceID; Portrait-unnorm has InstantID's
    Resampler layout to the parameter and is told apart by its name (as cubiq's pack does), with a message
    that names the right method either way."""
    portrait = detect_layout(mlp_proj(768, 16), ip_group(SD15, 768))
    assert (portrait.kind, portrait.tokens, portrait.lora_rank) == ("faceid-portrait", 16, None)
    check_supported(portrait, "IP-Adapter FaceID")
    check_family(portrait, "SD 1.5", SD15, 768)
    with pytest.raises(AdapterError, match="needs an InstantID adapter.*Portrait"):
        check_supported(portrait, "InstantID")
    proj, ip = resampler_proj(), ip_group(SDXL, 2048)
    unnorm = detect_layout(proj, ip, "ip-adapter-faceid-portrait_sdxl_unnorm.bin")
    assert (unnorm.kind, unnorm.tokens, unnorm.face_pack) == ("faceid-portrait-unnorm", 16, "buffalo_l")
    check_supported(unnorm, "IP-Adapter FaceID")
    with pytest.raises(AdapterError, match=r"Portrait-unnorm.*not InstantID's adapter.*IP-Adapter FaceID"):
        check_supported(unnorm, "InstantID")
    instantid = detect_layout(proj, ip, "ip-adapter.bin")
    with pytest.raises(AdapterError, match=r"InstantID's adapter layout.*method 'InstantID'.*unnorm"):
        check_supported(instantid, "IP-Adapter FaceID")
    with torch.device("meta"):
        assert isinstance(build_projection(unnorm.kind, proj), Resampler)
    with pytest.raises(AdapterError, match="not an IP-Adapter"):
        split_groups({"model.diffusion_model.x": meta(1)})


def test_the_training_scripts_key_prefixes_are_accepted():
    """Checkpoints saved by IP-Adapter's training script: ``image_proj_model.`` and ``adapter_modules.``."""
    proj, ip = mlp_proj(768, 4), ip_group(SD15, 768, lora_rank=128)
    flat = {f"image_proj_model.{k}": v for k, v in proj.items()} | {f"adapter_modules.{k}": v for k, v in ip.items()}
    p2, ip2 = split_groups(flat)
    assert p2.keys() == proj.keys() and ip2.keys() == ip.keys()
    assert detect_layout(p2, ip2).kind == "faceid"


def test_sd2_is_refused_for_sd15_faceid():
    """SD 2.x has SD 1.5's 16 attention layers of the same widths but 1024-wide text tokens."""
    layout = detect_layout(mlp_proj(768, 4), ip_group(SD15, 768, lora_rank=128))
    check_family(layout, "SD 1.5", SD15, 768)
    with pytest.raises(AdapterError, match=r"model is SD20.*SD 1\.5 and SDXL only"):
        check_family(layout, "SD20", SD15, 1024)
    with pytest.raises(AdapterError, match=r"text width 1024"):
        check_family(layout, "SD 1.5", SD15, 1024)


@pytest.mark.parametrize(("hidden", "ctx", "family"), [(SD15, 768, "SD 1.5"), (SDXL, 2048, "SDXL")])
def test_faceid_plus_published_layouts_need_a_clip_vision_model(hidden, ctx, family):
    """ip-adapter-faceid-plus(v2)_{sd15,sdxl}: FaceID's MLP and a 4-layer face resampler over ViT-H's
    1280-wide hidden states; Plus and PlusV2 differ only in their names."""
    proj = {**mlp_proj(ctx, 4), **resampler_proj(dim=ctx, out=ctx, embedding=1280, plus=True)}
    ip = ip_group(hidden, ctx, lora_rank=128)
    plus = detect_layout(proj, ip, "ip-adapter-faceid-plus_sd15.bin")
    v2 = detect_layout(proj, ip, f"ip-adapter-faceid-plusv2_{'sd15' if family == 'SD 1.5' else 'sdxl'}.bin")
    assert (plus.kind, v2.kind, v2.family, v2.tokens, v2.token_width) == (
        "faceid-plus",
        "faceid-plusv2",
        family,
        4,
        ctx,
    )
    assert v2.face_pack == "buffalo_l" and v2.lora_rank == 128
    if family == "SD 1.5":
        # ip-adapter-faceid-plusv2_sd15.bin is 156 MB of fp16: 78.2 M parameters in this layout
        assert 2 * (numel(proj) + numel(ip)) == pytest.approx(156e6, rel=0.01)
    for layout in (plus, v2):
        with pytest.raises(
            AdapterError, match=r"CLIP vision.*CLIP-ViT-H-14-laion2B-s32B-b79K\.safetensors.*clip_vision"
        ):
            check_supported(layout, "IP-Adapter FaceID")
        check_supported(layout, "IP-Adapter FaceID", clip_vision=True)
        with pytest.raises(AdapterError, match="needs an InstantID adapter"):
            check_supported(layout, "InstantID", clip_vision=True)
    with torch.device("meta"):
        model = build_projection("faceid-plusv2", proj)
    assert isinstance(model, FaceIDPlusProjection) and sum(p.numel() for p in model.parameters()) == numel(proj)
    bad = {**proj, "perceiver_resampler.proj_out.weight": meta(ctx // 2, ctx)}
    with pytest.raises(AdapterError, match="inconsistent adapter"):
        detect_layout(bad, ip, "ip-adapter-faceid-plusv2_sd15.bin")


def _ln(x, sd, name):
    return F.layer_norm(x, (x.shape[-1],), sd[f"{name}.weight"], sd[f"{name}.bias"], 1e-5)


def reference_faceid_plus(sd, id_embeds, clip_embeds, shortcut, scale):
    """FaceID Plus's projection written out step by step (the reference's ProjPlusModel with its
    FacePerceiverResampler and PerceiverAttention): 64-wide heads, q and k each scaled by dh^-1/4."""
    x = F.linear(
        F.gelu(F.linear(id_embeds, sd["proj.0.weight"], sd["proj.0.bias"])), sd["proj.2.weight"], sd["proj.2.bias"]
    )
    width = sd["norm.weight"].shape[0]
    x = _ln(x.reshape(-1, x.shape[-1] // width, width), sd, "norm")
    r = "perceiver_resampler."
    feats = F.linear(clip_embeds, sd[f"{r}proj_in.weight"], sd[f"{r}proj_in.bias"])
    latents = x
    depth = 1 + max(int(k.split(".")[2]) for k in sd if k.startswith(f"{r}layers."))
    for n in range(depth):
        p = f"{r}layers.{n}."
        f_n, l_n = _ln(feats, sd, f"{p}0.norm1"), _ln(latents, sd, f"{p}0.norm2")
        b, length, _ = l_n.shape
        q = l_n @ sd[f"{p}0.to_q.weight"].T
        k, v = (torch.cat([f_n, l_n], dim=1) @ sd[f"{p}0.to_kv.weight"].T).chunk(2, dim=-1)
        heads = q.shape[-1] // 64
        q, k, v = (t.reshape(b, t.shape[1], heads, -1).transpose(1, 2) for t in (q, k, v))
        s = 1 / math.sqrt(math.sqrt(q.shape[-1]))
        w = torch.softmax((q * s) @ (k * s).transpose(-2, -1), dim=-1)
        out = (w @ v).permute(0, 2, 1, 3).reshape(b, length, -1)
        latents = out @ sd[f"{p}0.to_out.weight"].T + latents
        h = F.gelu(_ln(latents, sd, f"{p}1.0") @ sd[f"{p}1.1.weight"].T)
        latents = h @ sd[f"{p}1.3.weight"].T + latents
    out = _ln(F.linear(latents, sd[f"{r}proj_out.weight"], sd[f"{r}proj_out.bias"]), sd, f"{r}norm_out")
    return x + scale * out if shortcut else out


def _random_plus(dim=128, clip=48, depth=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    shapes = {**mlp_proj(dim, 4), **resampler_proj(dim=dim, out=dim, embedding=clip, depth=depth, plus=True)}
    sd = {}
    for k, v in shapes.items():
        t = torch.randn(v.shape, generator=g)
        if k.endswith("norm.weight") or ".norm" in k and k.endswith(".weight") or k.endswith(".1.0.weight"):
            t = 1 + 0.2 * t  # LayerNorm gains near 1
        elif v.dim() == 2:
            t = t / v.shape[1] ** 0.5
        else:
            t = 0.2 * t
        sd[k] = t
    return sd


def test_faceid_plus_projection_is_the_reference_maths():
    sd = _random_plus()
    model = build_projection("faceid-plus", sd)
    g = torch.Generator().manual_seed(1)
    emb, clip = torch.randn(2, 512, generator=g), torch.randn(2, 257, 48, generator=g)
    for shortcut, scale in ((False, 1.0), (True, 1.0), (True, 0.4)):
        got = model(emb, clip, shortcut, scale)
        want = reference_faceid_plus(sd, emb, clip, shortcut, scale)
        assert got.shape == (2, 4, 128)
        assert torch.allclose(got, want, atol=1e-5), float((got - want).abs().max())


def test_faceid_plusv2_shortcut_adds_the_id_tokens_to_the_resampler_output():
    sd = _random_plus(seed=3)
    plus = build_projection("faceid-plusv2", sd)
    mlp = MLPProjection.from_state_dict({k: v for k, v in sd.items() if not k.startswith("perceiver_resampler.")})
    g = torch.Generator().manual_seed(2)
    emb, clip = torch.randn(1, 512, generator=g), torch.randn(1, 257, 48, generator=g)
    with torch.no_grad():
        x, v1 = mlp(emb), plus(emb, clip)
        assert torch.allclose(plus(emb, clip, True, 0.0), x)  # scale 0: FaceID's tokens alone
        assert torch.allclose(plus(emb, clip, True, 1.0), x + v1, atol=1e-6)
        assert float((plus(emb, clip, True, 1.0) - v1).abs().mean()) > 0.1  # v2 is not v1
        other = torch.randn(1, 257, 48, generator=g)
        assert float((plus(emb, other) - v1).abs().mean()) > 1e-3  # the CLIP features matter


def test_projection_shapes_and_identity_dependence():
    torch.manual_seed(0)
    sd = {k: torch.randn(v.shape) * 0.05 for k, v in resampler_proj(dim=64, out=96, depth=2).items()}
    model = Resampler.from_state_dict(sd)
    a, b = torch.randn(1, 512), torch.randn(1, 512)
    ta, tb = model(a), model(b)
    assert ta.shape == (1, 16, 96)
    assert float((ta - tb).abs().max()) > 1e-3 and torch.equal(model(a), ta)
    mlp = build_projection("faceid", {k: torch.randn(v.shape) * 0.05 for k, v in mlp_proj(32, 4).items()})
    assert mlp(a).shape == (1, 4, 32)


def test_keypoint_image_colours_and_limbs():
    kps = torch.tensor([[40.0, 50.0], [80.0, 50.0], [60.0, 70.0], [45.0, 92.0], [75.0, 92.0]])
    img = draw_keypoints(kps, 120, 140)
    assert img.shape == (140, 120, 3)
    colours = [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (1, 0, 1)]
    for (x, y), c in zip(kps.long().tolist(), colours):
        assert torch.allclose(img[y, x], torch.tensor(c, dtype=torch.float32))  # full-colour dot
    # halfway between the left eye's dot and the nose's dot: the limb, in the eye's colour at 60 %
    mid = img[60, 50]
    assert mid[0] == pytest.approx(0.6, abs=0.01) and mid[1] == 0 and mid[2] == 0
    assert float(img[5:20, 5:20].abs().sum()) == 0  # black elsewhere


def test_keep_mask_is_one_on_the_face_zero_far_away_and_smooth():
    photo = torch.rand(200, 160, 3)
    framed = frame_photo(photo, (60.0, 40.0, 100.0, 90.0), 80, 96)
    assert framed.image.shape == (96, 80, 3)
    keep = keep_mask(framed.box, 80, 96)
    x0, y0, x1, y1 = framed.box
    assert keep[int((y0 + y1) / 2), int((x0 + x1) / 2)] == 1  # face centre
    assert keep[int(y0) - 2, int((x0 + x1) / 2)] == 1  # hair above the forehead
    assert keep[-1, 0] == 0 and keep[0, -1] == 0
    soft = keep[(keep > 0) & (keep < 1)]
    assert soft.numel() > 20  # a feathered edge, not a hard cut


def test_auto_tries_adapter_and_identitynet_files_in_the_stated_order():
    from portraitos.engine.generation.adapters import order_adapter_files, order_identitynet_files

    files = [
        "ip-adapter-faceid-plusv2_sdxl.bin",
        "ip-adapter-faceid_sd15.bin",
        "ip-adapter-faceid_sdxl.bin",
        "ip-adapter-faceid.bin",
        "ip-adapter_sdxl.safetensors",
    ]
    assert order_adapter_files(files, "IP-Adapter FaceID", "SDXL") == [
        "ip-adapter-faceid_sdxl.bin",  # FaceID, plain, names the family
        "ip-adapter-faceid.bin",  # names no family
        "ip-adapter-faceid_sd15.bin",  # the other family
        "ip-adapter-faceid-plusv2_sdxl.bin",  # Plus after plain
        "ip-adapter_sdxl.safetensors",  # not FaceID: last
    ]
    # a CLIP vision model connected: Plus first (it is connected for Plus), then plain, Portrait last
    with_portrait = [*files, "ip-adapter-faceid-portrait_sdxl.bin"]
    assert order_adapter_files(with_portrait, "IP-Adapter FaceID", "SDXL", clip_vision=True) == [
        "ip-adapter-faceid-plusv2_sdxl.bin",
        "ip-adapter-faceid_sdxl.bin",
        "ip-adapter-faceid.bin",
        "ip-adapter-faceid_sd15.bin",
        "ip-adapter-faceid-portrait_sdxl.bin",
        "ip-adapter_sdxl.safetensors",
    ]
    nets = ["canny/diffusion_pytorch_model.safetensors", "depth.safetensors", "InstantID/ControlNetModel.safetensors"]
    assert order_identitynet_files(nets) == [
        "InstantID/ControlNetModel.safetensors",
        "canny/diffusion_pytorch_model.safetensors",
    ]


# --- face detection at several sizes (one home: engine.faces.analysis) ------------------------------


def test_close_up_selfie_is_found_at_a_smaller_detection_size(tmp_path):
    """The face fills the frame: the detector misses it at det_size 640 (as real SCRFD often does) and
    finds it at a smaller size; IdentityLoader's analysis and IdentityScore's embedding both get it, and
    the pack's own detection size is left as it was."""
    import numpy as np

    from portraitos.engine.faces import analyse, load_pack
    from portraitos.engine.faces.analysis import DET_SIZES, find_faces_insightface
    from portraitos.engine.identity.scoring import largest_face_embedding
    from portraitos.testing.tiny_face_models import build_closeup_pack

    _folder, photo = build_closeup_pack(tmp_path)
    pack = load_pack(tmp_path, "closeup")
    assert find_faces_insightface(pack, photo, det_sizes=(640,)) == []  # the single-size detection of before
    faces = find_faces_insightface(pack, photo)
    assert len(faces) == 1 and faces[0].det_size == 320 and DET_SIZES[0] == 640
    assert pack.app.det_model.input_size == (640, 640)
    x0, y0, x1, y1 = faces[0].bbox
    assert 0.75 * 512 < x1 - x0 < 0.85 * 512  # the face as it is in the photo, not in the detector's input
    record, _warnings, _ = analyse(pack, photo)
    assert np.allclose(record["bbox"], faces[0].bbox)
    assert largest_face_embedding(pack, photo) is not None
    assert find_faces_insightface(pack, np.zeros_like(photo)) == []  # no face at any size: nothing invented


def test_a_detector_with_a_fixed_input_size_is_run_once(tmp_path):
    from skimage import data

    from portraitos.engine.faces import load_pack
    from portraitos.engine.faces.analysis import find_faces_insightface
    from portraitos.testing.tiny_face_models import build_pack

    build_pack(tmp_path, "fixed")
    pack = load_pack(tmp_path, "fixed")
    calls = []
    get = pack.app.get
    pack.app.get = lambda img: calls.append(img.shape) or get(img)
    assert len(find_faces_insightface(pack, data.astronaut())) == 1 and len(calls) == 1
    pack.app.get = lambda img: calls.append(img.shape) or []
    assert find_faces_insightface(pack, data.astronaut()) == [] and len(calls) == 2  # 640 only: it ignores det_size


# --- the best of several photos ------------------------------------------------------------------


def _astronaut_variants():
    """The sample portrait (face box and keypoints as measured on it) and worse photos of the same face:
    blurred, darkened, and mirrored (as good as the original, its box and keypoints mirrored)."""
    from scipy import ndimage
    from skimage import data

    from portraitos.testing.tiny_face_models import ASTRONAUT_BOX, ASTRONAUT_KPS

    sharp = torch.from_numpy(data.astronaut()).float() / 255
    blurred = torch.from_numpy(ndimage.gaussian_filter(sharp.numpy(), sigma=(3, 3, 0)))
    dark = sharp * 0.25
    w = sharp.shape[1]
    x0, y0, x1, y1 = ASTRONAUT_BOX
    mirrored_box = (w - x1, y0, w - x0, y1)
    kps = torch.from_numpy(ASTRONAUT_KPS.copy())
    mirrored_kps = kps[[1, 0, 2, 4, 3]].clone()  # left and right swap places
    mirrored_kps[:, 0] = w - mirrored_kps[:, 0]
    return {
        "sharp": (sharp, ASTRONAUT_BOX, kps),
        "blurred": (blurred, ASTRONAUT_BOX, kps),
        "dark": (dark, ASTRONAUT_BOX, kps),
        "mirrored": (sharp.flip(1), mirrored_box, mirrored_kps),
    }


def test_face_quality_measures_yaw_sharpness_and_light_on_real_photos():
    from portraitos.engine.generation.photo_choice import face_quality

    v = _astronaut_variants()
    q = {k: face_quality(*v[k]) for k in ("sharp", "blurred", "dark", "mirrored")}
    assert abs(q["sharp"].yaw) < 10 and abs(q["mirrored"].yaw + q["sharp"].yaw) < 1e-3  # mirrored yaw, same size
    assert q["blurred"].sharpness < 0.2 * q["sharp"].sharpness
    assert abs(q["mirrored"].sharpness - q["sharp"].sharpness) < 0.05 * q["sharp"].sharpness
    assert abs(q["dark"].luminance - 0.25 * q["sharp"].luminance) < 0.01 and 0.3 < q["sharp"].luminance < 0.7
    assert abs(q["dark"].sharpness - q["sharp"].sharpness) < 0.05 * q["sharp"].sharpness  # light counted once
    # a face turned away: the nose moved towards one eye (yaw from the five points)
    sharp, box, kps = v["sharp"]
    turned = kps.clone()
    turned[2, 0] = kps[1, 0] - 4  # nose almost under the right eye
    assert face_quality(sharp, box, turned).yaw > 45
    assert face_quality(sharp, box).yaw is None  # a detector without keypoints


def test_the_sharp_frontal_well_lit_photo_is_chosen_whatever_its_place():
    from portraitos.engine.generation.photo_choice import choose_photo

    v = _astronaut_variants()
    for order in (("dark", "blurred", "sharp"), ("sharp", "dark", "blurred"), ("blurred", "mirrored", "dark")):
        choice = choose_photo(*zip(*(v[k] for k in order)))
        best = order.index("sharp" if "sharp" in order else "mirrored")
        assert choice.index == best, (order, choice.scores)
        assert choice.scores[best] > 1.5 * max(s for i, s in enumerate(choice.scores) if i != best)
        assert choice.describe().startswith(f"photo {best + 1} of 3 (yaw")
    sharp, box, kps = v["sharp"]
    turned = kps.clone()
    turned[2, 0] = kps[1, 0] - 4
    choice = choose_photo([sharp, sharp], [box, box], [turned, kps])
    assert choice.index == 1  # the frontal one
    choice = choose_photo([v["dark"][0], sharp], [box, None], [kps, None])
    assert choice.index == 0 and choice.scores[1] is None and "photo 2: no face" in choice.describe()
    with pytest.raises(ValueError, match="no face"):
        choose_photo([sharp], [None], [None])


def test_the_identity_face_for_identitynet_is_its_best_stored_crop():
    """Three stored faces (the aligned 224 px crops an identity keeps): the dark and the blurred one lose."""
    import torch.nn.functional as F

    from portraitos.engine.generation.photo_choice import choose_identity_face

    v = _astronaut_variants()
    crops = []
    for k in ("dark", "blurred", "sharp"):
        img, (x0, y0, x1, y1), _ = v[k]
        face = img[int(y0) : int(y1), int(x0) : int(x1)].permute(2, 0, 1)[None]
        crops.append((F.interpolate(face, size=(224, 224), mode="bilinear")[0].permute(1, 2, 0) * 255).round())
    tensors = {"crop_224": torch.stack(crops).to(torch.uint8), "kps": torch.stack([v["sharp"][2]] * 3)}
    choice = choose_identity_face(tensors)
    assert choice.index == 2 and choice.describe("identity face").startswith("identity face 3 of 3")
