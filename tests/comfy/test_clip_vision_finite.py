"""A CLIP vision model whose features are not finite (float16 overflow on some GPUs) is refused with an error
that names the ``clip_vision`` input and says what to do, instead of all-black images: on the shared path of
PortraitIdentityApply and PortraitGenerate (``apply_identity``) and through the node."""

# ruff: noqa: F811  (the imported fixture is taken as a test argument)
from __future__ import annotations

import pytest
import torch

from portraitos.testing.comfy_host import run_node
from portraitos.testing.tiny_diffusion_models import build_clip_vision, faceid_plus_state_dict, save_bin
from portraitos.tests.comfy.test_portrait_generate import _clear, tiny  # noqa: F401  (the tiny-model fixture)


def overflowing_clip_vision(folder):
    """The tiny CLIP vision with one MLP weight past float16's range: its features come out inf/NaN."""
    clip_vision = build_clip_vision(folder)
    fc1 = next(m for name, m in clip_vision.model.named_modules() if name.endswith("mlp.fc1"))
    with torch.no_grad():
        fc1.weight.mul_(1e38)
    return clip_vision


def test_non_finite_clip_vision_features_are_refused_by_name(tiny, tmp_path):
    from portraitos.services import identity_adapters as ia

    _clear(tiny, "ipadapter")
    save_bin(faceid_plus_state_dict("sd15"), tiny["root"] / "ipadapter" / "ip-adapter-faceid-plusv2_sd15.bin")
    model = tiny["models"]["sd15"][0]
    ident = tiny["ids"][("buffalo_l", "astro")]
    try:
        with pytest.raises(ValueError, match=r"clip_vision.*not finite.*--fp32-text-enc"):
            ia.apply_identity(model, ident, "IP-Adapter FaceID", 0.8, clip_vision=overflowing_clip_vision(tmp_path))
        # through the node: the same refusal, not a black picture
        n = tiny["nodes"]
        clip = tiny["models"]["sd15"][1]
        pos = n.CLIPTextEncode().encode(clip, "studio headshot")[0]
        neg = n.CLIPTextEncode().encode(clip, "blurry")[0]
        with pytest.raises(ValueError, match=r"clip_vision.*not finite"):
            run_node(
                n.NODE_CLASS_MAPPINGS["PortraitIdentityApply"],
                model=model,
                positive=pos,
                negative=neg,
                identity=ident,
                vae=tiny["models"]["sd15"][2],
                method="IP-Adapter FaceID",
                identity_strength=0.8,
                clip_vision=overflowing_clip_vision(tmp_path / "again"),
                width=64,
                height=64,
            )
        # a healthy CLIP vision still applies
        patch = ia.apply_identity(model, ident, "IP-Adapter FaceID", 0.8, clip_vision=build_clip_vision(tmp_path))
        assert patch.adapter is not None and patch.adapter.layout.kind == "faceid-plusv2"
    finally:
        _clear(tiny, "ipadapter")
