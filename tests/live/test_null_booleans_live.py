"""``null`` for a BOOLEAN input is refused, naming the input, over the live HTTP API (ComfyUI would read it as
false and run without a word). The pack's on-prompt hook (services/prompt_values.py) hands ComfyUI's own
conversion a value it refuses."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from portraitos.headless.server import PromptRejected
from portraitos.services.prompt_values import read_as_meant


def _graph(refine_edges):
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": "nullbool_photo.png"}},
        "2": {
            "class_type": "DepthEstimate",
            "inputs": {
                "image": ["1", 0],
                "model": "portrait prior (no weights)",
                "subject_distance_m": 0.0,
                "background_distance_m": 6.0,
                "focal_length_mm": 85.0,
                "sensor": "full frame 36x24",
                "refine_edges": refine_edges,
                "precision": "fp32",
            },
        },
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 1]}},
    }


def test_null_for_a_boolean_is_refused_naming_the_input(comfy_server):
    g = np.random.default_rng(1)
    Image.fromarray(g.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(comfy_server.input_dir / "nullbool_photo.png")
    with pytest.raises(PromptRejected) as e:
        comfy_server.run_prompt(_graph(None))
    assert e.value.status == 400, e.value.body
    errs = json.dumps(e.value.body.get("node_errors", {}).get("2", {}).get("errors", []))
    assert "refine_edges" in errs and "null" in errs and "true or false" in errs, errs
    hist, _ = comfy_server.run_prompt(_graph(False))  # false itself still runs
    assert hist["status"]["status_str"] == "success", hist["status"]


def test_the_hook_marks_null_booleans_only():
    body = {"prompt": {"2": {"class_type": "N", "inputs": {"a": None, "b": False, "c": True, "d": ["1", 0]}}}}
    out = read_as_meant(body, {"N": frozenset({"a", "b", "c", "d"})}, {})["prompt"]["2"]["inputs"]
    assert out["b"] is False and out["c"] is True and out["d"] == ["1", 0]
    with pytest.raises(ValueError, match="a is null"):
        bool(out["a"])
    assert json.loads(json.dumps(out))["a"] == "null"  # ComfyUI's error answer can show it
