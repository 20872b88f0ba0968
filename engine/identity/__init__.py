"""Identities: the safetensors file format of a stored face identity, and creating, updating and
re-using them. Loading needs neither InsightFace nor a GPU; nothing is ever unpickled."""

from ..faces.records import photo_sha256  # the fingerprint identities record per source photo
from .enrolment import MODES, RESTORE, Enrolment, describe, enrol, load_stored, restore_stored
from .file_format import (
    EMBEDDING_DIM,
    Identity,
    IdentityError,
    build_identity,
    find_by_name,
    identity_path,
    list_identities,
    load_identity,
    merge,
    normalise,
    restore_previous,
    sanitize_name,
    save_identity,
)

__all__ = [
    "MODES",
    "RESTORE",
    "restore_stored",
    "restore_previous",
    "Enrolment",
    "describe",
    "enrol",
    "load_stored",
    "EMBEDDING_DIM",
    "Identity",
    "IdentityError",
    "build_identity",
    "find_by_name",
    "identity_path",
    "list_identities",
    "load_identity",
    "merge",
    "normalise",
    "photo_sha256",
    "sanitize_name",
    "save_identity",
]
