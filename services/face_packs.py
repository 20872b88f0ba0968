"""The InsightFace face packs ComfyUI has (``models/insightface/models/<pack>/*.onnx``) and the stored
identities folder (``models/identities``): discovery, the message that says where a missing pack goes,
and loading a pack once per (folder, name, provider)."""

from __future__ import annotations

from pathlib import Path

import folder_paths

from portraitos.engine.core.safe_paths import PathNotFoundError, UnsafePathError, check_name, resolve_inside
from portraitos.engine.faces import FaceError, FacePack, load_pack

from . import model_folders  # noqa: F401  (registers models/identities and models/insightface)
from .model_cache import CACHE
from .model_sources import FACE_SOURCES, where_to_get

NO_FACE_MODEL = "(no face model installed: see tooltip)"

CACHE_KIND = "face pack"


def identities_dir() -> Path:
    return Path(folder_paths.get_folder_paths("identities")[0])


def insightface_roots() -> list[Path]:
    return [Path(p) for p in folder_paths.get_folder_paths("insightface")]


def face_packs() -> list[str]:
    found = []
    for root in insightface_roots():
        models = root / "models"
        if models.is_dir():
            found += [p.name for p in sorted(models.iterdir()) if p.is_dir() and list(p.glob("*.onnx"))]
    return sorted(set(found))


def pack_root(name: str) -> Path:
    """The insightface root whose ``models/<name>`` holds the pack; the name must be one folder directly
    in a registered ``models/insightface/models/`` (symlinks resolved), else FaceError."""
    roots = insightface_roots()
    try:
        check_name(name, "face model pack")
        if "/" in name.replace("\\", "/"):
            raise UnsafePathError(f"face model pack {name!r} must be a folder directly in models/insightface/models/")
        for root in roots:
            if (root / "models").is_dir():
                try:
                    resolve_inside(root / "models", name, "face model pack", "dir")
                    return root
                except PathNotFoundError:
                    continue
    except UnsafePathError as e:
        raise FaceError(f"face_model refused: {e}") from None
    return roots[0]  # not installed: load_pack says where the files go


def missing_face_model_message(face_model: str | None) -> str:
    """What to do when the face model a node (or a saved workflow) names is not installed: the folder to
    put it in and where to get it, whatever name was saved."""
    installed = face_packs()
    folder = insightface_roots()[0] / "models"
    wanted = face_model if face_model not in (None, NO_FACE_MODEL) else "antelopev2"
    if installed:
        head = f"face_model {wanted!r} is not installed (installed: {', '.join(installed)}: pick one, or install it)"
    else:
        head = f"no InsightFace model is installed (face_model {wanted!r})"
    return (
        f"{head}: put the {wanted} .onnx files (no nested folder) into {folder / wanted}/ and restart ComfyUI "
        "(antelopev2 for InstantID, buffalo_l for IP-Adapter FaceID). Where to get them:\n" + where_to_get(FACE_SOURCES)
    )


def face_pack(name: str, provider: str) -> FacePack:
    if name == NO_FACE_MODEL or name not in face_packs():
        raise FaceError(missing_face_model_message(name))
    root = pack_root(name)
    key = (str(root), name, provider)
    return CACHE.get(CACHE_KIND, key, lambda: load_pack(root, name, provider))
