"""PortraitOS engine: optics, depth, faces, colour and lighting in plain torch.

Nothing here imports ComfyUI, ``services`` or ``nodes``; the nodes in ``nodes/`` are thin adapters over
these packages. Each depends only on the ones below it (``lint-imports`` checks the order, top first):

* ``presets/``    the product's menus: lens presets, lighting looks, portrait styles
* ``lens/``       thin-lens optics, aperture, focus, depth layers, the scatter renderer, the pipeline
* ``identity/``   the identity file format; creating, updating and re-using identities (beside ``lens/``)
* ``generation/`` identity-preserving generation: styles, prompts, adapters (beside ``lens/``)
* ``lighting/``   illuminants, presets, re-lighting, the LIGHTING value
* ``depth/``      the DEPTH map, depth files, networks, resampling, calibration, the scene's layout, the
  weight-free portrait prior (people + layout + lens -> metres), matte, preview
* ``people/``     finding, segmenting, posing and relieving the people in a photo
* ``faces/``      face and eye detection (OpenCV, MediaPipe), InsightFace analysis for identities
* ``mediapipe/``  the MediaPipe models run in torch
* ``core/``       what all share: colour, camera, chunks, batch sizes, finite checks, samples, filters,
  safe paths

Conventions used throughout:

* IMAGE tensors are ``[B,H,W,C]`` float32, sRGB-encoded, 0..1 (ComfyUI's layout).
* Depth is metric distance from the lens in metres, ``[B,H,W]`` float32.
* Lengths on the sensor are millimetres; circle-of-confusion sizes in the image are pixels.
"""
