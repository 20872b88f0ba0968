"""Turning a user-given file or model name into a path that stays inside the folders it may name.

Every file-name input (depth files, depth models, face model packs, identities) goes through
:func:`resolve_inside`, which follows ComfyUI's own rule for model files: the name must be relative,
without ``..`` parts or NUL (so it names something *in* one of the folders), and what the folder holds
there is used, links included, wherever a link leads — as ComfyUI's folder listings show linked files
and its loaders load them. A name that climbs out or is absolute is refused; a link placed in a models
folder is the user's own choice.
"""

from __future__ import annotations

import os
import stat
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


def resolve_inside(
    folders: str | os.PathLike | Iterable[str | os.PathLike], name: str, what: str = "file", kind: str = "file"
) -> Path:
    """The resolved path of ``name`` in the first of ``folders`` that holds it (links followed).

    kind: ``"file"``, ``"dir"`` or ``"any"`` (what the name must be). Raises :class:`UnsafePathError`
    for absolute names, ``..`` and NUL, :class:`PathNotFoundError` when no folder holds it.
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
    other = None  # what the name is where it exists as the wrong kind (a folder, a FIFO, a device)
    for base in bases:
        path = (base / rel).resolve()
        if not path.exists():
            continue
        if kind == "file" and not path.is_file():
            other = other or _kind_of(path)
            continue
        if kind == "dir" and not path.is_dir():
            other = other or _kind_of(path)
            continue
        return path
    want = {"file": "file", "dir": "folder", "any": "file or folder"}[kind]
    if other is not None:
        raise PathNotFoundError(f"{what} {name!r} is {other}, not a {want}")
    raise PathNotFoundError(f"{what} {name!r}: no such {want} in {_listing(bases)}")


def _kind_of(path: Path) -> str:
    """What ``path`` is, for a message: "a folder", "a FIFO (named pipe)", "a device", "a socket", "a file"."""
    mode = path.stat().st_mode
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a file"


def _listing(bases: list[Path]) -> str:
    return str(bases[0]) if len(bases) == 1 else "any of " + ", ".join(str(b) for b in bases)
