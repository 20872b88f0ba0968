"""Test-only ComfyUI node package, loaded by the test server next to PortraitOS: it registers the tiny
SD 1.5 / SDXL model configurations of ``testing/tiny_diffusion_models.py`` with ComfyUI's supported
models, so that the stock CheckpointLoaderSimple loads the tiny checkpoints the tests write. It adds
no nodes and is never shipped."""

from portraitos.testing import tiny_diffusion_models

tiny_diffusion_models.register()

NODE_CLASS_MAPPINGS: dict = {}
