"""Test support: the ComfyUI hosts (in-process and live server), the browser host, and the tiny models
(depth, face, diffusion) the tests build themselves."""
