"""PortraitOS engine: optics, depth, colour and lighting in plain torch.

Nothing here imports ComfyUI; the nodes in ``nodes/`` are thin adapters over these modules.
Conventions used throughout:

* IMAGE tensors are ``[B,H,W,C]`` float32, sRGB-encoded, 0..1 (ComfyUI's layout).
* Depth is metric distance from the lens in metres, ``[B,H,W]`` float32.
* Lengths on the sensor are millimetres; circle-of-confusion sizes in the image are pixels.
"""
