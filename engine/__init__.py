"""PortraitOS engine: optics, depth, faces, colour and lighting in plain torch.

Nothing here imports ComfyUI; the nodes in ``nodes/`` are thin adapters over these packages:

* ``lens/``      thin-lens optics, aperture, focus, depth layers, the scatter renderer, the pipeline
* ``depth/``     the DEPTH map, depth files, networks, resampling, guided filtering, calibration, the
                 weight-free portrait prior, matte, preview
* ``faces/``     face and eye detection (OpenCV), InsightFace analysis for identities
* ``identity/``  the identity file format; creating, updating and re-using identities
* ``lighting/``  illuminants, presets, re-lighting, the LIGHTING value
* ``colour.py``  sRGB transfer and luminance; ``sampling.py`` strided subsamples of large maps

Conventions used throughout:

* IMAGE tensors are ``[B,H,W,C]`` float32, sRGB-encoded, 0..1 (ComfyUI's layout).
* Depth is metric distance from the lens in metres, ``[B,H,W]`` float32.
* Lengths on the sensor are millimetres; circle-of-confusion sizes in the image are pixels.
"""
