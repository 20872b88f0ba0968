"""The shipped workflows: generated from the product presets, equivalent in both formats, readable in
the editor, listed with thumbnails, valid against a live server and running on it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import portraitos.tools.build_workflows as bw
from portraitos.engine import presets
from portraitos.tests.support.shipped_workflows import PORTRAITS, UI_FILES, check_template

REPO = Path(__file__).resolve().parents[2]


def test_product_presets_are_defined_once():
    assert [(lens.focal_length_mm, lens.f_number) for lens in presets.LENSES] == [
        (85, 1.8),
        (85, 1.2),
        (85, 2.8),
        (50, 1.8),
        (135, 2.0),
    ]
    assert presets.DEFAULT_LENS.slug == "85mm_f1.8" and presets.DEFAULT_LENS.label == "85 mm f/1.8"
    # the default lens is written once: the engine's settings and the editor's fallbacks read it
    from portraitos.engine.depth import EstimateSettings
    from portraitos.engine.depth.from_image import ImageDepthSettings
    from portraitos.engine.lens import LensSettings

    default = (presets.DEFAULT_LENS.focal_length_mm, presets.DEFAULT_LENS.f_number)
    assert (LensSettings().focal_length_mm, LensSettings().f_number) == default
    assert EstimateSettings().focal_length_mm == ImageDepthSettings().focal_length_mm == default[0]
    js = (REPO / "js" / "portraitos.js").read_text()
    assert f'value(node, "focal_length_mm", {default[0]:g})' in js and f'value(node, "f_number", {default[1]:g})' in js
    from portraitos.engine.lighting import PRESETS

    assert set(presets.LIGHTING) <= set(PRESETS)
    assert presets.slug("warm cinematic") == "warm-cinematic"
    # one template per lens (default light) and per light (default lens)
    names = {p.stem for p in PORTRAITS}
    assert names == {f"portrait_{lens.slug}_warm-cinematic" for lens in presets.LENSES} | {
        f"portrait_85mm_f1.8_{presets.slug(light)}" for light in presets.LIGHTING
    }


@pytest.mark.parametrize("path", UI_FILES, ids=lambda p: p.stem)
def test_templates_explain_themselves_and_are_laid_out(path):
    wf = json.loads(path.read_text())
    assert re.fullmatch(
        r"((selfie-to-20-portraits(_stored-identity|_fast)?|portrait)_\d+mm_f[\d.]+_[a-z-]+|identity_(create|update|load))",
        path.stem,
    )
    check_template(wf, path.name)


@pytest.mark.parametrize("path", UI_FILES, ids=lambda p: p.stem)
def test_every_template_has_a_rendered_thumbnail(path):
    thumb = path.with_suffix(".jpg")
    assert thumb.is_file(), f"{thumb.name} missing: run tools/build_workflows.py --thumbnails"
    img = Image.open(thumb)
    assert img.format == "JPEG" and max(img.size) <= bw.THUMB_SIDE and thumb.stat().st_size < 60_000
    a = np.asarray(img.convert("RGB")).astype(np.float32)
    assert a.std() > 20, "a real picture, not a flat placeholder"
