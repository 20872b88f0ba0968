"""Depth: the DEPTH map type, depth files, networks, resampling and guided filtering, calibration to
metres, the weight-free portrait prior, the subject matte and previews.

Depth is metric distance from the lens in metres, ``[B,H,W]`` float32; disparity is 1/depth.
"""

from ..core.guided_filter import guided_filter, guided_refine
from .calibration import calibrate_disparity
from .depth_map import ASSUMED, CALIBRATED, ESTIMATED, MEASURED, MIN_DEPTH_M, DepthMap, clean_depth
from .estimate import PRIOR, EstimateSettings, estimate_depth
from .files import DEPTH_EXTENSIONS, DepthFileError, is_depth_file, read_depth_file
from .from_image import CALIBRATIONS, ENCODINGS, ImageDepthSettings, depth_from_picture
from .matte import subject_weight_from_depth
from .networks import (
    DepthNetwork,
    ModelFileError,
    hf_folder_kind,
    load_depth_anything_single_file,
    load_hf_folder,
    predict,
)
from .preview import depth_preview
from .resample import joint_bilateral_upsample, resize_depth_edge_aware, upsample

__all__ = [
    "calibrate_disparity",
    "ASSUMED",
    "CALIBRATED",
    "ESTIMATED",
    "MEASURED",
    "MIN_DEPTH_M",
    "DepthMap",
    "clean_depth",
    "PRIOR",
    "EstimateSettings",
    "estimate_depth",
    "DEPTH_EXTENSIONS",
    "DepthFileError",
    "read_depth_file",
    "is_depth_file",
    "CALIBRATIONS",
    "ENCODINGS",
    "ImageDepthSettings",
    "depth_from_picture",
    "guided_filter",
    "guided_refine",
    "subject_weight_from_depth",
    "DepthNetwork",
    "ModelFileError",
    "hf_folder_kind",
    "load_depth_anything_single_file",
    "load_hf_folder",
    "predict",
    "depth_preview",
    "joint_bilateral_upsample",
    "resize_depth_edge_aware",
    "upsample",
]
