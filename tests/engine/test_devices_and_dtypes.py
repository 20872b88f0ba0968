"""Engine code follows its inputs' device and dtype: tensors made inside a function land where the
inputs live, and a precision the user picks is the precision the network runs in.

The ``meta`` device runs shapes without data, so a CPU-only machine still catches a tensor created
on the wrong device; ``--device cuda`` / ``--dtype bfloat16`` run the same checks on a GPU.
"""

import pytest
import torch

from portraitos.engine.depth import load_hf_folder
from portraitos.engine.depth.networks import network_dtype
from portraitos.engine.lens import Aperture, LensSettings, render_lens_bokeh
from portraitos.engine.lighting import LightingParams, lambert_shading, relight


def test_lambert_shading_builds_its_light_on_the_depth_device():
    depth = torch.full((1, 16, 16), 2.0, device="meta")
    shade = lambert_shading(depth, direction_deg=30.0)  # a CPU light vector fails here on meta tensors
    assert shade.device.type == "meta" and shade.shape == (1, 16, 16)


def test_relight_with_key_shading_on_the_test_device(device):
    image = torch.rand(1, 24, 32, 3, device=device)
    depth = torch.full((1, 24, 32), 2.0, device=device)
    depth[:, :, 16:] = 6.0
    out, _setup = relight(image, LightingParams("warm cinematic", key_strength=0.8), depth)
    assert out.device == image.device and bool(torch.isfinite(out).all())


@pytest.mark.parametrize("precision, expected", [("fp16", torch.float16), ("bf16", torch.bfloat16)])
def test_precision_gives_the_network_dtype_off_the_cpu(precision, expected):
    assert network_dtype(precision, torch.device("meta")) == expected
    assert network_dtype(precision, torch.device("cuda")) == expected
    assert network_dtype(precision, torch.device("cpu")) == torch.float32  # the CPU always runs fp32


def test_a_network_loaded_at_a_precision_holds_weights_in_it(tmp_path):
    from portraitos.testing.tiny_depth_models import save_hf_folder, tiny_depth_anything

    save_hf_folder(tiny_depth_anything(), tmp_path / "da", 518)
    net = load_hf_folder(tmp_path / "da", network_dtype("bf16", torch.device("meta")))
    assert {p.dtype for p in net.model.parameters()} == {torch.bfloat16}


def test_lens_bokeh_renders_on_the_test_device_and_dtype(device, dtype):
    if device.type == "cpu" and dtype == torch.float16:
        pytest.skip("float16 convolutions are not implemented on the CPU")
    image = torch.rand(1, 48, 64, 3, device=device, dtype=dtype)
    depth = torch.full((1, 48, 64), 8.0, device=device, dtype=dtype)
    depth[:, 12:36, 20:44] = 2.0
    result = render_lens_bokeh(image, depth, LensSettings(85.0, 1.8, 2.0), Aperture())
    assert result.image.device == image.device and result.image.shape == image.shape
    assert bool(torch.isfinite(result.image.float()).all())
