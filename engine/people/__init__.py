"""People in a photo: finding them (faces, distances), segmenting them (the person matte, shared out
between the faces; hair matting), posing them (body landmarks and segmentation) and their relief (head
and body), gathered in the :class:`People` value that depth builds a portrait's metres on.

Depends on ``core``, ``mediapipe`` and ``faces`` only; ``depth`` builds on it.
"""

from .face_finding import find_face, find_faces_all
from .finding import People, find_people, place_people
from .person import Person

__all__ = ["People", "Person", "find_face", "find_faces_all", "find_people", "place_people"]
