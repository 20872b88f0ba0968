"""What an analysis records about a face and its photo, in the units an identity file stores: the
head pose from the five keypoints (degrees) and the source photo's fingerprint."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import torch


def photo_sha256(rgb: np.ndarray) -> str:
    """The fingerprint an identity records for each source photo: SHA-256 of its uint8 RGB pixels
    ``[H,W,3]`` (the same photo queued again is recognised by it)."""
    return hashlib.sha256(np.ascontiguousarray(rgb, dtype=np.uint8).tobytes()).hexdigest()


def pose_from_kps(kps: torch.Tensor) -> torch.Tensor:
    """Rough yaw, pitch, roll (degrees) of a face from its five keypoints ``[5,2]``."""
    le, re_, nose, lm, rm = kps
    eye_mid, mouth_mid = (le + re_) / 2, (lm + rm) / 2
    eye_vec = re_ - le
    eye_dist = float(eye_vec.norm().clamp_min(1e-6))
    roll = math.degrees(math.atan2(float(eye_vec[1]), float(eye_vec[0])))
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, 2.0 * float(nose[0] - eye_mid[0]) / eye_dist))))
    span = float((mouth_mid - eye_mid)[1]) or 1e-6
    pitch = math.degrees(math.asin(max(-1.0, min(1.0, 2.0 * (float(nose[1] - eye_mid[1]) / span - 0.5)))))
    return torch.tensor([yaw, pitch, roll], dtype=torch.float32)
