"""People in a photo: finding them (faces, distances), segmenting them (the person matte, shared out
between the faces; hair matting), posing them (body landmarks and segmentation) and their relief (head
and body), for depth to place them.

Depends on ``core``, ``mediapipe`` and ``faces`` only; ``depth`` builds on it.
"""
