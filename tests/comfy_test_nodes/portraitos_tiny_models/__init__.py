"""Test-only ComfyUI node package, loaded by the test server next to PortraitOS: it registers the tiny
SD 1.5 / SDXL model configurations of ``tests/tiny_diffusion_models.py`` with ComfyUI's supported
models, so that the stock CheckpointLoaderSimple loads the tiny checkpoints the tests write. It adds
no nodes and is never shipped."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import tiny_diffusion_models  # noqa: E402

tiny_diffusion_models.register()

NODE_CLASS_MAPPINGS: dict = {}
