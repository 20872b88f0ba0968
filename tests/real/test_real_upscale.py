"""Real-ESRGAN x4plus, converted from the ncnn files on PyPI, in ComfyUI's ``models/upscale_models/``: loaded
by ComfyUI's own UpscaleModelLoader on a live server and run as the selfie templates' upscale stage (their
note: replace 'Upscale Image By' with 'Load Upscale Model' + 'Upscale Image (using Model)'), then the
templates' depth, light and lens.

The portrait is Gauss's (1024×1305) at an eighth of its size, so that the ×4 result can be held against the
portrait itself at that size (a picture whose detail is known) and the network's run stays short on a CPU
(its cost grows with the input's pixels: 1 MP in takes about 64× this one). The 1 MP and 8K runs are
``benchmarks/bench_real_8k.py``.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from portraitos.headless.server import ComfyServer
from portraitos.testing.comfy_host import REPO
from portraitos.testing.real_models import UPSCALER

SELFIE = "selfie_85mm_f1.8_soft"


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0**2 / np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


def _edges(rgb: np.ndarray) -> float:
    """The 99th percentile of the Sobel gradient magnitude of the luma (0–255 units per px)."""
    import cv2

    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float64)
    return float(np.percentile(np.hypot(cv2.Sobel(grey, cv2.CV_64F, 1, 0), cv2.Sobel(grey, cv2.CV_64F, 0, 1)), 99))


@pytest.fixture(scope="module")
def server(real_root, tmp_path_factory):
    s = ComfyServer(
        tmp_path_factory.mktemp("real_server"),
        model_folders={"upscale_models": real_root / "models" / "upscale_models"},
    ).start()
    try:
        yield s
    finally:
        s.stop()


def selfie_upscale_stage(image_name: str) -> dict:
    """The selfie template's stages after IdentityScore (upscale, depth, light, lens, save and previews) as
    shipped, its 'Upscale Image By' replaced by the upscale model, fed from LoadImage; the upscaled image is
    saved too."""
    graph = json.loads((REPO / "workflows" / "api" / f"{SELFIE}.json").read_text())
    assert graph["6"]["class_type"] == "ImageScaleBy"  # the stage the template's note says to replace
    keep = {k: v for k, v in graph.items() if k not in ("1", "2", "3", "4", "5", "6")}
    for node in keep.values():
        for v in node["inputs"].values():
            assert not (isinstance(v, list) and v[0] in ("1", "2", "3", "4", "5")), node
    keep["1"] = {"class_type": "LoadImage", "inputs": {"image": image_name}}
    keep["20"] = {"class_type": "UpscaleModelLoader", "inputs": {"model_name": UPSCALER}}
    keep["6"] = {"class_type": "ImageUpscaleWithModel", "inputs": {"upscale_model": ["20", 0], "image": ["1", 0]}}
    keep["21"] = {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "real/upscaled"}}
    return keep


def test_the_selfie_templates_upscale_stage_with_real_esrgan(server, photos):
    """Gauss's portrait at 128×163 through the live server: ComfyUI loads the converted file as ESRGAN ×4,
    the result is 512×652 and is the portrait: within 28 dB PSNR of the portrait itself at 512×652, its own
    input again when scaled back down, with sharper edges than Lanczos ×4 gives (as sharp as the portrait's
    own at that size, within 20 %); depth, light and lens
    run on it to the saved portrait."""
    import cv2
    from PIL import Image

    gauss = photos["gauss"]
    small = cv2.resize(gauss, (128, 163), interpolation=cv2.INTER_AREA)
    truth = cv2.resize(gauss, (512, 652), interpolation=cv2.INTER_AREA)
    buf = io.BytesIO()
    Image.fromarray(small).save(buf, format="PNG")
    server.upload("gauss_small.png", buf.getvalue())
    options = server.get_json("/object_info/UpscaleModelLoader")["UpscaleModelLoader"]["input"]["required"]
    assert UPSCALER in json.dumps(options["model_name"])
    entry, _ = server.run_prompt(selfie_upscale_stage("gauss_small.png"), timeout=1800)
    assert entry["status"]["status_str"] == "success", entry["status"]
    saved = {}
    for node, out in entry["outputs"].items():
        for im in out.get("images", []):
            if im["type"] == "output":
                saved[node] = np.array(Image.open(server.output_dir / im["subfolder"] / im["filename"]).convert("RGB"))
    up, portrait = saved["21"], saved["10"]
    assert up.shape == (652, 512, 3) and portrait.shape == (652, 512, 3)
    lanczos = cv2.resize(small, (512, 652), interpolation=cv2.INTER_LANCZOS4)
    back = cv2.resize(up, (128, 163), interpolation=cv2.INTER_AREA)
    psnr_truth, psnr_back = _psnr(up, truth), _psnr(back, small)
    edges = {"Real-ESRGAN": _edges(up), "Lanczos": _edges(lanczos), "portrait": _edges(truth)}
    print(
        f"\nReal-ESRGAN ×4 of 128×163: vs the portrait at 512×652 {psnr_truth:.1f} dB (Lanczos "
        f"{_psnr(lanczos, truth):.1f} dB); scaled back vs its input {psnr_back:.1f} dB; edge gradient p99 "
        + ", ".join(f"{k} {v:.0f}" for k, v in edges.items())
    )
    assert psnr_truth > 28 and psnr_back > 33
    assert edges["Real-ESRGAN"] > 1.1 * edges["Lanczos"]
    assert abs(edges["Real-ESRGAN"] - edges["portrait"]) < 0.2 * edges["portrait"]  # as sharp as the real thing
    assert not np.array_equal(portrait, up)  # the lens and light ran on it


def test_a_truncated_ncnn_file_is_refused_with_the_reason(real_root, tmp_path):
    """The converter checks the graph against the network it writes: a cut ``.bin`` is an error naming the
    byte counts, not a state dict with garbage in it."""
    from portraitos.testing.ncnn_esrgan import NcnnFormatError, convert

    param = tmp_path / "x.param"
    binf = tmp_path / "x.bin"
    param.write_text(
        "7767517\n3 3\nInput in 0 1 data\nConvolution c0 1 1 data a 0=64 1=3 4=1 5=1 6=1728\n"
        "Convolution c1 1 1 a b 0=3 1=3 4=1 5=1 6=1728\n"
    )
    binf.write_bytes(b"\0" * 100)
    with pytest.raises(NcnnFormatError, match="upsampling layers"):
        convert(param, binf)
    from portraitos.testing.ncnn_esrgan import read_convolutions

    with pytest.raises(NcnnFormatError, match="the .bin ends at byte 100; c0 needs bytes up to 7172"):
        read_convolutions(param.read_text(), b"\0" * 100)
