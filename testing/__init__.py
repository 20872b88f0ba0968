"""Test support, beside the pack as kornia's ``testing`` is: the in-process ComfyUI loader, the browser
host, the tiny models (depth, face, diffusion) the tests and benchmarks build themselves, the workflow
helpers. Development code only: the nodes never import it, and the Registry zip leaves it out
(``.comfyignore``). Live ComfyUI servers come from the one launcher, ``headless/server.py``."""
