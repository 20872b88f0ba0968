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
from portraitos.testing.shipped_workflows import PORTRAITS, UI_FILES, check_template

REPO = Path(__file__).resolve().parents[2]
TEMPLATES_DIR = REPO / "workflows"


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
    # one template per lens (default light), per light (default lens) and per shipped lens profile
    names = {p.stem for p in PORTRAITS}
    assert names == {f"portrait_{lens.slug}_warm" for lens in presets.LENSES} | {
        f"portrait_85mm_f1.8_{bw.light_tag(light)}" for light in presets.LIGHTING
    } | {f"portrait_{tag}" for tag in bw.PROFILE_TEMPLATES.values()}
    assert len({bw.light_tag(light) for light in presets.LIGHTING}) == len(presets.LIGHTING)


def test_template_names_fit_and_the_default_comes_first():
    """Short names (the template browser cuts a name at its card's width: 1.58.1 shows nothing else),
    the default look first in the order the editor lists them, every shipped template in that order."""
    order = re.findall(r'^  "([^"]+)",$', (REPO / "js" / "template_order.js").read_text(), re.M)
    assert order[0] == f"portrait_{presets.DEFAULT_LENS.slug}_{bw.light_tag(presets.DEFAULT_LIGHTING)}"
    assert sorted(order) == sorted(p.stem for p in UI_FILES)
    assert max(len(name) for name in order) <= 26, max(order, key=len)


def test_old_template_names_still_find_their_workflow(tmp_path):
    """A script or manifest naming a template by its name before the shortening runs the renamed file."""
    from portraitos.headless.workflow_names import RENAMED, resolve_workflow

    api = REPO / "workflows" / "api"
    assert RENAMED and all((api / f"{new}.json").is_file() for new in RENAMED.values())
    for old, new in RENAMED.items():
        assert not (api / f"{old}.json").exists()
        assert resolve_workflow(api / f"{old}.json", warn=False) == api / f"{new}.json"
    unknown = tmp_path / "mine.json"
    assert resolve_workflow(unknown) == unknown  # anything else is left as given (and reported missing)


@pytest.mark.parametrize("path", UI_FILES, ids=lambda p: p.stem)
def test_templates_explain_themselves_and_are_laid_out(path):
    wf = json.loads(path.read_text())
    assert re.fullmatch(
        r"((selfie|selfie_fast|portrait)_\d+mm_f[\d.]+_[a-z]+|portrait_[a-z]+-\d+_[a-z\d.]+|selfie_stored-identity"
        r"|identity_(create|update|load)|identity_with_ipadapter)",
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


def test_every_template_has_its_own_thumbnail():
    """No two templates show the same thumbnail file; those whose own output needs weights the build
    lacks are drawn on a real picture of the pack's with a caption, from the sources on disk now."""
    import hashlib

    jpgs = sorted(TEMPLATES_DIR.glob("*.jpg"))
    assert sorted(p.stem for p in jpgs) == sorted(p.stem for p in UI_FILES)  # one per workflow, none left over
    by_hash: dict[str, list[str]] = {}
    for p in jpgs:
        by_hash.setdefault(hashlib.sha256(p.read_bytes()).hexdigest(), []).append(p.stem)
    assert [names for names in by_hash.values() if len(names) > 1] == []
    assert all(p.stat().st_size < 60_000 for p in jpgs)
    drawn = [w for w in bw.all_workflows({"PortraitGenerate", "IdentityScore"}) if w.thumbnail_like]
    assert {w.name for w in drawn} == {p.stem for p in UI_FILES if p.stem.startswith("selfie_")}
    for wf in drawn:
        assert wf.caption and "illustration" in wf.caption_note, wf.name
        key = bw.caption_key((TEMPLATES_DIR / f"{wf.thumbnail_like}.jpg").read_bytes(), wf, bw.SELFIE.read_bytes())
        assert bw.thumbnail_comment(TEMPLATES_DIR / f"{wf.name}.jpg") == key, (
            f"{wf.name}.jpg is stale: run tools/build_workflows.py"
        )
    captions = [w.caption for w in bw.all_workflows({"PortraitGenerate", "IdentityScore"}) if w.caption]
    assert len(set(captions)) == len(captions)
