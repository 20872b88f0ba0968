"""Turning a user-given file or model name into a path that stays inside the folders it may name.

Every file-name input (depth files, depth models, face model packs, identities) goes through
:func:`resolve_inside`: the name must be relative, without ``..`` parts, and the path it names must,
after every symlink is resolved, lie inside one of the allowed folders (also resolved). A model kept
elsewhere is added by registering its folder (ComfyUI's ``extra_model_paths.yaml``), not by a link
that leads out of the models tree.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath, PureWindowsPath

KINDS = ("file", "dir", "any")


class PathError(ValueError):
    """A name that cannot be used; the message says why and what to do."""


class UnsafePathError(PathError):
    """A name that is absolute, climbs out with ``..`` or resolves (through a symlink) outside its folders."""


class PathNotFoundError(PathError):
    """A safe name that names nothing (of the wanted kind) inside the folders."""


def check_name(name: object, what: str = "file") -> str:
    """The name itself, if it is a plain relative name (``a``, ``sub/a.npy``); else :class:`UnsafePathError`."""
    if not isinstance(name, str) or not name.strip():
        raise UnsafePathError(f"{what} name must be a non-empty string, got {name!r}")
    if "\x00" in name:
        raise UnsafePathError(f"{what} name {name!r} contains a NUL character")
    win = PureWindowsPath(name)
    posix = PurePosixPath(name.replace("\\", "/"))
    if posix.is_absolute() or win.drive or win.root:
        raise UnsafePathError(
            f"{what} name {name!r} is an absolute path; give a name relative to the folder it lives in"
        )
    if ".." in posix.parts:
        raise UnsafePathError(f"{what} name {name!r} contains '..'; give a name inside the folder it lives in")
    return name


def is_inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or below it (both already resolved)."""
    return path == folder or folder in path.parents


def resolve_inside(
    folders: str | os.PathLike | Iterable[str | os.PathLike], name: str, what: str = "file", kind: str = "file"
) -> Path:
    """The resolved path of ``name`` inside the first of ``folders`` that holds it.

    kind: ``"file"``, ``"dir"`` or ``"any"`` (what the name must be). Raises :class:`UnsafePathError`
    for absolute names, ``..`` and symlinks leading outside every folder, :class:`PathNotFoundError`
    when no folder holds it.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if isinstance(folders, (str, os.PathLike)):
        folders = [folders]
    bases = [Path(f).resolve() for f in folders]
    if not bases:
        raise PathNotFoundError(f"no folder is registered for {what}s")
    check_name(name, what)
    rel = name.replace("\\", "/")
    escaped = None
    for base in bases:
        path = (base / rel).resolve()
        if not path.exists():
            continue
        if not any(is_inside(path, b) for b in bases):
            escaped = path
            continue
        if kind == "file" and not path.is_file():
            continue
        if kind == "dir" and not path.is_dir():
            continue
        return path
    if escaped is not None:
        raise UnsafePathError(
            f"{what} {name!r} resolves (through a link) to {escaped}, outside {_listing(bases)}; "
            "move it into that folder or register its folder in extra_model_paths.yaml"
        )
    want = {"file": "file", "dir": "folder", "any": "file or folder"}[kind]
    raise PathNotFoundError(f"{what} {name!r}: no such {want} in {_listing(bases)}")


def _listing(bases: list[Path]) -> str:
    return str(bases[0]) if len(bases) == 1 else "any of " + ", ".join(str(b) for b in bases)
