"""Stored face identities: building one from detected faces, and its safetensors file format.

An identity file ``<name>.safetensors`` holds tensors and, in the safetensors header, JSON
metadata. Nothing is pickled, and loading needs neither InsightFace nor a GPU.

Tensors (N = number of source photos):
  embedding            [512]        mean of the normalised embeddings, renormalised (what generators use)
  embeddings_raw       [N,512]      ArcFace outputs as the model gave them
  embeddings_normed    [N,512]      each divided by its L2 norm
  kps                  [N,5,2]      eyes, nose, mouth corners (source image pixels)
  bbox                 [N,4]        x0, y0, x1, y1 (source image pixels)
  pose                 [N,3]        yaw, pitch, roll in degrees (from the model pack, else from kps)
  det_score            [N]
  crop_112, crop_224   [N,S,S,3]    aligned face crops (insightface norm_crop), uint8 RGB; FaceID Plus
                                    shows crop_224 to the CLIP vision model
  landmark_2d_106      [N,106,2]    when the pack has a 106-point landmark model
Metadata (all strings): format, schema_version, name, created, model_pack, source_sha256 (JSON
list), age and gender (JSON lists, when the pack estimates them), warnings (JSON list).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch

from ..faces.records import pose_from_kps

FORMAT = "portraitos.identity"
SCHEMA_VERSION = 1
EMBEDDING_DIM = 512
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")
REQUIRED = {
    "embedding": (EMBEDDING_DIM,),
    "embeddings_raw": (None, EMBEDDING_DIM),
    "embeddings_normed": (None, EMBEDDING_DIM),
    "kps": (None, 5, 2),
    "bbox": (None, 4),
    "pose": (None, 3),
    "det_score": (None,),
    "crop_112": (None, 112, 112, 3),
    "crop_224": (None, 224, 224, 3),
}


class IdentityError(ValueError):
    """An identity that cannot be created, saved or loaded; the message says why and what to do."""


@dataclass
class Identity:
    """The IDENTITY type. ``tensors`` as listed in the module docstring; ``meta`` JSON-able."""

    name: str
    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def embedding(self) -> torch.Tensor:
        return self.tensors["embedding"]

    @property
    def count(self) -> int:
        return int(self.tensors["embeddings_raw"].shape[0])


def sanitize_name(name: str) -> str:
    """Validate an identity name: 1–64 ASCII letters, digits, space, ``_ . -``; no paths or traversal."""
    if not isinstance(name, str) or not name.strip():
        raise IdentityError("identity name is empty; give it a name such as 'anna'")
    name = name.strip()
    if name.endswith(".safetensors"):
        name = name[: -len(".safetensors")]
    if "\x00" in name:
        raise IdentityError(f"identity name {name!r} contains a NUL character (\\x00): remove it")
    if "/" in name or "\\" in name or ".." in name:
        raise IdentityError(f"identity name {name!r} must not contain path separators or '..'")
    if not NAME_PATTERN.match(name):
        raise IdentityError(
            f"identity name {name!r} is not allowed: use 1–64 ASCII letters, digits, "
            "spaces, '_', '.' or '-', starting with a letter or digit"
        )
    if name.endswith((".", " ")):
        raise IdentityError(f"identity name {name!r} ends with a dot or a space, which Windows drops from file names")
    stem = name.split(".", 1)[0].rstrip(" ").upper()
    if stem in WINDOWS_RESERVED:
        raise IdentityError(
            f"identity name {name!r} is a device name on Windows ({stem}), not a file name there: choose another"
        )
    return name


# names Windows reserves for devices, with any extension (CON, CON.txt...): not files there
WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{dev}{n}" for dev in ("COM", "LPT") for n in (*"123456789", "¹", "²", "³")]
)


def identity_path(folder: Path, name: str) -> Path:
    # the name has no separators or "..": the path is in the folder (a link there is followed when read)
    return Path(folder) / f"{sanitize_name(name)}.safetensors"


def normalise(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def build_identity(name: str, faces: list[dict[str, Any]], model_pack: str, warnings: list[str]) -> Identity:
    """An Identity from analysed faces (one per source photo). Each dict holds ``embedding`` [512],
    ``kps`` [5,2], ``bbox`` [4], ``det_score``, ``crop_112``, ``crop_224`` (uint8 HWC), ``sha256`` and
    optionally ``pose`` [3], ``landmark_2d_106`` [106,2], ``age``, ``gender``."""
    if not faces:
        raise IdentityError("no faces to build an identity from")
    raw = torch.stack([torch.as_tensor(f["embedding"], dtype=torch.float32).reshape(-1) for f in faces])
    if raw.shape[1] != EMBEDDING_DIM:
        raise IdentityError(
            f"the recognition model gave {raw.shape[1]}-d embeddings; an ArcFace model with "
            f"{EMBEDDING_DIM}-d output is needed"
        )
    normed = normalise(raw)
    t = {
        "embedding": normalise(normed.mean(0)),
        "embeddings_raw": raw,
        "embeddings_normed": normed,
        "kps": torch.stack([torch.as_tensor(f["kps"], dtype=torch.float32) for f in faces]),
        "bbox": torch.stack([torch.as_tensor(f["bbox"], dtype=torch.float32)[:4] for f in faces]),
        "pose": torch.stack(
            [
                torch.as_tensor(f["pose"], dtype=torch.float32)
                if f.get("pose") is not None
                else pose_from_kps(torch.as_tensor(f["kps"], dtype=torch.float32))
                for f in faces
            ]
        ),
        "det_score": torch.tensor([float(f["det_score"]) for f in faces], dtype=torch.float32),
        "crop_112": torch.stack([torch.as_tensor(f["crop_112"], dtype=torch.uint8) for f in faces]),
        "crop_224": torch.stack([torch.as_tensor(f["crop_224"], dtype=torch.uint8) for f in faces]),
    }
    if all(f.get("landmark_2d_106") is not None for f in faces):
        t["landmark_2d_106"] = torch.stack([torch.as_tensor(f["landmark_2d_106"], dtype=torch.float32) for f in faces])
    meta = {
        "name": sanitize_name(name),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "model_pack": model_pack,
        "source_sha256": [f["sha256"] for f in faces],
        "warnings": list(warnings),
    }
    if all(f.get("age") is not None for f in faces):
        meta["age"] = [float(f["age"]) for f in faces]
    if all(f.get("gender") is not None for f in faces):
        meta["gender"] = [int(f["gender"]) for f in faces]
    return Identity(str(meta["name"]), {k: v.contiguous() for k, v in t.items()}, meta)


def merge(old: Identity, new: Identity) -> Identity:
    """``update``: the photos of both, with the mean embedding recomputed over all of them."""
    t = {}
    for k in old.tensors:
        if k == "embedding" or k not in new.tensors:
            continue
        t[k] = torch.cat([old.tensors[k], new.tensors[k]])
    t["embedding"] = normalise(t["embeddings_normed"].mean(0))
    meta = dict(old.meta)
    meta["updated"] = new.meta["created"]
    meta["source_sha256"] = list(old.meta.get("source_sha256", [])) + list(new.meta.get("source_sha256", []))
    meta["warnings"] = list(old.meta.get("warnings", [])) + list(new.meta.get("warnings", []))
    for key in ("age", "gender"):
        if key in old.meta and key in new.meta:
            meta[key] = list(old.meta[key]) + list(new.meta[key])
        else:
            meta.pop(key, None)
    return Identity(old.name, t, meta)


PREVIOUS_SUFFIX = ".safetensors.previous"  # the version an update replaced (not listed as an identity)


def previous_path(path: Path) -> Path:
    """Where the version of ``<name>.safetensors`` that the last update replaced is kept."""
    return path.with_name(path.name[: -len(".safetensors")] + PREVIOUS_SUFFIX)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; Windows has no directory handles to sync)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _durable_replace(src: Path, dst: Path) -> None:
    """``src`` (already written) becomes ``dst``: its bytes on disk first, then the rename."""
    _fsync_file(src)
    os.replace(src, dst)
    _fsync_folder(dst.parent)


def save_identity(identity: Identity, folder: Path, overwrite: bool) -> Path:
    """Write ``<folder>/<name>.safetensors`` durably (written to a temporary file, synced, renamed, the
    folder synced: a crash leaves the old file or the new one, never a torn one). Refuses to replace an
    existing one unless ``overwrite``; a replaced version is kept as ``<name>.safetensors.previous``
    (:func:`restore_previous` brings it back)."""
    from safetensors.torch import save_file

    path = identity_path(folder, identity.name)
    if path.exists() and not overwrite:
        raise IdentityError(
            f"identity {identity.name!r} already exists ({path.name} in the identities folder); use mode "
            "'update' to add photos to it, or choose another name"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"format": FORMAT, "schema_version": str(SCHEMA_VERSION)}
    for k, v in identity.meta.items():
        header[k] = v if isinstance(v, str) else json.dumps(v)
    tmp = path.with_suffix(".safetensors.tmp")
    save_file({k: v.contiguous().cpu() for k, v in identity.tensors.items()}, str(tmp), metadata=header)
    if path.exists():
        # keep the version being replaced: copied (and synced) before the new one takes its name
        kept = path.with_suffix(".safetensors.previous-tmp")
        shutil.copyfile(path, kept)
        _durable_replace(kept, previous_path(path))
    _durable_replace(tmp, path)
    return path


def restore_previous(folder: Path, name: str) -> Path:
    """Swap ``<name>.safetensors`` with the version its last update replaced (so a second restore undoes
    the first). The kept version is validated first; IdentityError when there is none."""
    path = identity_path(folder, name)
    prev = previous_path(path)
    if not prev.is_file():
        raise IdentityError(f"identity {sanitize_name(name)!r} has no earlier version to restore ({prev} is missing)")
    load_identity(prev)  # a damaged copy is refused before anything moves
    swap = path.with_suffix(".safetensors.swap-tmp")
    shutil.copyfile(prev, swap)
    if path.is_file():
        kept = path.with_suffix(".safetensors.previous-tmp")
        shutil.copyfile(path, kept)
        _durable_replace(kept, prev)
    _durable_replace(swap, path)
    return path


def load_identity(path: Path) -> Identity:
    """Read and fully validate an identity file; a corrupt, truncated or foreign file raises
    IdentityError naming it, and nothing half-loaded is returned."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise IdentityError(f"identity file {path.name} not found in the identities folder")
    try:
        with safe_open(str(path), framework="pt") as f:  # type: ignore[attr-defined]  # safetensors' stub lacks it
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:
        raise IdentityError(
            f"identity file {path.name} is corrupt or truncated ({type(e).__name__}: {e}); "
            "delete it and create the identity again"
        ) from None
    if header.get("format") != FORMAT:
        raise IdentityError(f"{path.name} is not a PortraitOS identity (format {header.get('format')!r})")
    if header.get("schema_version") != str(SCHEMA_VERSION):
        raise IdentityError(
            f"{path.name} has identity schema {header.get('schema_version')!r}; "
            f"this version reads schema {SCHEMA_VERSION}"
        )
    n = None
    for key, shape in REQUIRED.items():
        if key not in tensors:
            raise IdentityError(f"{path.name} lacks tensor {key!r}")
        t = tensors[key]
        if t.dim() != len(shape) or any(s is not None and s != d for s, d in zip(shape, t.shape)):
            raise IdentityError(f"{path.name}: tensor {key!r} has shape {tuple(t.shape)}, expected {shape}")
        if shape[0] is None:
            if n is None:
                n = t.shape[0]
            elif t.shape[0] != n:
                raise IdentityError(f"{path.name}: tensor {key!r} holds {t.shape[0]} photos, others {n}")
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise IdentityError(f"{path.name}: tensor {key!r} contains NaN or infinite values")
    if abs(float(tensors["embedding"].norm()) - 1.0) > 1e-3:
        raise IdentityError(f"{path.name}: the identity embedding is not normalised; the file was altered")
    meta: dict[str, Any] = {}
    for k, v in header.items():
        if k in ("format", "schema_version"):
            continue
        try:
            meta[k] = json.loads(v) if k in ("source_sha256", "warnings", "age", "gender") else v
        except json.JSONDecodeError:
            raise IdentityError(f"{path.name}: metadata {k!r} is not valid JSON") from None
    return Identity(meta.get("name", path.stem), tensors, meta)


def list_identities(folder: Path) -> list[str]:
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.safetensors") if NAME_PATTERN.match(p.stem))


def find_by_name(folder: Path, name: str) -> Optional[Path]:
    p = identity_path(folder, name)
    return p if p.is_file() else None
