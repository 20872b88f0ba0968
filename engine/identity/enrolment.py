"""Creating, updating and re-using stored identities: what IdentityLoader does, without ComfyUI.

Photos are uint8 RGB numpy arrays ``[H,W,3]``; identities live as ``<folder>/<name>.safetensors``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from ..core.progress import Progress
from ..faces.records import photo_sha256
from .file_format import (
    Identity,
    IdentityError,
    build_identity,
    find_by_name,
    identity_path,
    load_identity,
    merge,
    restore_previous,
    sanitize_name,
    save_identity,
)

RESTORE = "restore previous"
MODES = ("create", "update", "load", RESTORE)


@dataclass
class Enrolment:
    """The outcome of one IdentityLoader run: the identity, one preview per analysed photo (uint8 RGB
    ``[H,W,3]`` with the detected faces drawn; empty when nothing was analysed), what happened in
    words, and the quality warnings (one per problem, naming the photo)."""

    identity: Identity
    previews: list[np.ndarray] = field(default_factory=list)
    message: str = ""
    warnings: list[str] = field(default_factory=list)


def describe(identity: Identity, what: str) -> str:
    return f"identity {identity.name!r} ({identity.count} photo(s), pack {identity.meta.get('model_pack')}): {what}"


def load_stored(folder: Path, name: str) -> Enrolment:
    """A stored identity by name (no face model needed)."""
    identity = load_identity(identity_path(folder, name))
    return Enrolment(identity, [], describe(identity, "loaded"))


def restore_stored(folder: Path, name: str) -> Enrolment:
    """The stored identity as it was before its last update (the two versions swap places, so running
    it again undoes it)."""
    path = restore_previous(folder, name)
    identity = load_identity(path)
    return Enrolment(identity, [], describe(identity, "restored the version before the last update"))


def enrol(
    mode: str,
    name: str,
    folder: Path,
    photos: list[np.ndarray],
    pack_name: str,
    analyse_photo: Callable[[np.ndarray], tuple[dict, list[str], list, np.ndarray]],
    progress: Progress | Callable[[int, int], None] | None = None,
    check_interrupt: Optional[Callable[[], None]] = None,
) -> Enrolment:
    """``create`` a new identity or ``update`` a stored one from ``photos`` of one person.

    ``analyse_photo(rgb)`` returns (face record, warnings, faces found, preview picture); it is only
    called when the photos have to be analysed, each a step of ``progress`` (a :class:`Progress`, or a
    ``(done, total)`` callback with ``check_interrupt()`` beside it; Cancel honoured before each).
    Queueing ``create`` again with the same photos and face pack returns the stored identity instead of
    failing (a re-run workflow is not an error).
    """
    if mode not in ("create", "update"):
        raise IdentityError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if not photos:
        raise IdentityError(f"mode {mode!r} needs a selfie on the image input")
    name = sanitize_name(name)
    existing = find_by_name(folder, name)
    if mode == "update" and existing is None:
        raise IdentityError(f"there is no stored identity {name!r} to update; use mode 'create'")
    if mode == "create" and existing is not None:
        stored = load_identity(existing)
        if (
            stored.meta.get("source_sha256") == [photo_sha256(p) for p in photos]
            and stored.meta.get("model_pack") == pack_name
        ):
            return Enrolment(stored, [], describe(stored, "already stored from these photos"))
        raise IdentityError(
            f"identity {name!r} already exists ({existing}) with other photos; use mode "
            "'update' to add these photos, or choose another name"
        )
    records, warnings, previews = [], [], []
    bar = Progress.of(progress, check_interrupt, total=len(photos))
    for i, rgb in enumerate(photos):
        bar.check()
        record, warn, _faces, preview = analyse_photo(rgb)
        records.append(record)
        warnings += [f"photo {i + 1}: {w}" for w in warn]
        previews.append(preview)
        bar.advance(i + 1, len(photos))
    identity = build_identity(name, records, pack_name, warnings)
    if mode == "update":
        identity = merge(load_identity(identity_path(folder, name)), identity)
    path = save_identity(identity, folder, overwrite=(mode == "update"))
    return Enrolment(identity, previews, describe(identity, f"saved to {path.name}"), warnings)
