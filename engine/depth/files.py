"""Reading metric depth maps from files: ``.npy`` float arrays, OpenEXR and 16-bit PNG.

All readers return a float32 tensor ``[H,W]`` in metres (stored value × ``scale``). Files are
never unpickled (``np.load(allow_pickle=False)``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..core.safe_paths import PathError, UnsafePathError
from ..core.safe_paths import resolve_inside as safe_resolve_inside

DEPTH_EXTENSIONS = (".npy", ".exr", ".png")
# OpenEXR channels tried in order for the depth value
_EXR_DEPTH_CHANNELS = ("Z", "depth", "Depth", "distance", "Y", "R", "RGB", "RGBA")


class DepthFileError(ValueError):
    """A depth file that cannot be used; the message says why and what to do."""


def resolve_inside(folder: str | os.PathLike, name: str) -> Path:
    """Resolve the depth file ``name`` inside ``folder``, refusing absolute paths, traversal and symlink
    escapes (see :func:`engine.core.safe_paths.resolve_inside`)."""
    try:
        return safe_resolve_inside(folder, name, what="depth file", kind="file")
    except UnsafePathError as e:
        raise DepthFileError(f"{e} (depth files are read from ComfyUI's input folder only)") from None
    except PathError:
        raise DepthFileError(
            f"depth file {name!r} not found in {Path(folder).resolve()}; put the .npy/.exr/.png file there "
            "(or upload it)"
        ) from None


def read_depth_file(path: str | os.PathLike, scale: float = 1.0) -> torch.Tensor:
    """Read one depth map as metres ``[H,W]`` float32 (not yet cleaned of NaN or zeros)."""
    path = Path(path)
    if not (scale > 0 and np.isfinite(scale)):
        raise DepthFileError(f"scale must be a positive number of metres per stored unit, got {scale}")
    ext = path.suffix.lower()
    if ext == ".npy":
        arr = _read_npy(path)
    elif ext == ".exr":
        arr = _read_exr(path)
    elif ext == ".png":
        arr = _read_png16(path)
    else:
        raise DepthFileError(
            f"{path.name}: unsupported depth format {ext!r}; use .npy (float metres), .exr or 16-bit .png"
        )
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise DepthFileError(f"{path.name}: depth must be a single-channel 2-D map, got array of shape {arr.shape}")
    if min(arr.shape) < 2:
        raise DepthFileError(f"{path.name}: depth map {arr.shape} is too small")
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)) * float(scale)


_NPY_MAGIC = b"\x93NUMPY"


def _read_npy(path: Path) -> np.ndarray:
    with open(path, "rb") as f:
        head = f.read(len(_NPY_MAGIC))
    if head != _NPY_MAGIC:
        what = "an empty file" if not head else f"a file starting with {head!r}"
        raise DepthFileError(
            f"{path.name}: not an .npy array ({what}, while .npy files start with {_NPY_MAGIC!r}); "
            "save the depth with np.save of a float32 array"
        )
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as e:
        if "pickle" in str(e):
            raise DepthFileError(
                f"{path.name}: holds Python objects; pickled .npy files are refused, save a "
                "plain float array (np.save of a float32 array)"
            ) from None
        raise DepthFileError(f"{path.name}: cannot read as .npy, truncated or not an .npy file ({e})") from None
    except Exception as e:  # truncated or not an .npy at all
        raise DepthFileError(f"{path.name}: cannot read as .npy ({type(e).__name__}: {e})") from None
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise DepthFileError(f"{path.name}: depth array must be real numbers, got dtype {arr.dtype}")
    return arr.astype(np.float32)


def _read_exr(path: Path) -> np.ndarray:
    try:
        import OpenEXR
    except ImportError:
        raise DepthFileError("reading .exr depth needs the OpenEXR package: pip install -r requirements.txt") from None
    try:
        with OpenEXR.File(str(path)) as f:
            channels = f.channels()
            for name in _EXR_DEPTH_CHANNELS:
                if name in channels:
                    px = np.asarray(channels[name].pixels, dtype=np.float32)
                    if px.ndim == 3:
                        px = px[..., 0]
                    return px
            raise DepthFileError(
                f"{path.name}: no depth channel; found {sorted(channels)}, expected one of {_EXR_DEPTH_CHANNELS}"
            )
    except DepthFileError:
        raise
    except Exception as e:
        raise DepthFileError(f"{path.name}: cannot read as OpenEXR ({type(e).__name__}: {e})") from None


def _read_png16(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode not in ("I;16", "I;16B", "I", "L", "F"):
                raise DepthFileError(
                    f"{path.name}: a depth PNG must be single-channel 16-bit grayscale, got mode {im.mode}"
                )
            if im.mode == "L":
                raise DepthFileError(
                    f"{path.name}: 8-bit PNG has too little precision for depth; save it as 16-bit grayscale"
                )
            arr = np.asarray(im.convert("I") if im.mode.startswith("I;16") else im, dtype=np.float32)
    except DepthFileError:
        raise
    except Exception as e:
        raise DepthFileError(f"{path.name}: cannot read as PNG ({type(e).__name__}: {e})") from None
    return arr


_EXR_MAGIC = b"\x76\x2f\x31\x01"


def is_depth_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` looks loadable by :func:`read_depth_file`, judged from its header only (cheap
    enough to list a whole input folder): a real-number ``.npy`` of shape ``[H,W]`` or ``[H,W,1]``,
    an OpenEXR file, or a single-channel 16-bit (or 32-bit) PNG. Ordinary 8-bit photos are not."""
    path = Path(path)
    ext = path.suffix.lower()
    try:
        if ext == ".npy":
            with open(path, "rb") as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, _fortran, dtype = np.lib.format.read_array_header_1_0(f)
                else:
                    shape, _fortran, dtype = np.lib.format.read_array_header_2_0(f)
            real = np.issubdtype(dtype, np.number) and not np.issubdtype(dtype, np.complexfloating)
            return bool(real) and (len(shape) == 2 or (len(shape) == 3 and shape[-1] == 1))
        if ext == ".exr":
            with open(path, "rb") as f:
                return f.read(4) == _EXR_MAGIC
        if ext == ".png":
            from PIL import Image

            with Image.open(path) as im:  # reads the header only
                return im.mode in ("I;16", "I;16B", "I", "F")
    except Exception:
        return False
    return False
