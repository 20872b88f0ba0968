"""Reading the files a user names (workflows, manifests, pictures): regular files only, bounded in size,
and text that is UTF-8 JSON, each problem said in one line.

A FIFO would block the reader forever and ``/dev/zero`` would be read until memory runs out: only regular
files are read, and at most a stated number of bytes. Standard library only (the headless client runs
without the pack installed).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

MAX_JSON_BYTES = 64 * 1024 * 1024  # a workflow or manifest larger than this is refused
MAX_PICTURE_BYTES = 512 * 1024 * 1024  # a picture to upload larger than this is refused


class FileProblem(ValueError):
    """A named file cannot be used; the message says why (one line)."""


def file_problem(path: Path) -> str | None:
    """Why ``path`` is not a readable regular file ("does not exist", "is a directory", "is a FIFO (named
    pipe)", "is a device", ...), or None when it is one."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "does not exist"
    except NotADirectoryError:
        return "does not exist (a part of its path is not a folder)"
    except PermissionError:
        return "cannot be read (permission denied)"
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    mode = st.st_mode
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a directory, not a file"
    if stat.S_ISFIFO(mode):
        return "is a FIFO (named pipe), not a file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a file"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a file"
    return "is not a regular file"


def read_bytes(path: Path, what: str, limit: int) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit``; :class:`FileProblem` naming ``what`` and
    the path otherwise."""
    problem = file_problem(path)
    if problem:
        raise FileProblem(f"{what} {path} {problem}")
    try:
        # O_NONBLOCK: should the path have become a FIFO since the check, opening it does not wait for a writer
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise FileProblem(f"{what} {path} cannot be read ({e.strerror or e})") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise FileProblem(f"{what} {path} is not a regular file")
        try:
            data = f.read(limit + 1)
        except OSError as e:
            raise FileProblem(f"{what} {path} cannot be read ({e.strerror or e})") from None
    if len(data) > limit:
        raise FileProblem(f"{what} {path} is larger than {limit // (1024 * 1024)} MB")
    return data


def read_text(path: Path, what: str, limit: int = MAX_JSON_BYTES) -> str:
    """The UTF-8 text of ``path`` (a UTF-8 byte order mark is allowed); :class:`FileProblem` for UTF-16 or any
    byte that is not UTF-8, naming its offset."""
    data = read_bytes(path, what, limit)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileProblem(f"{what} {path} is UTF-16 text; save it as UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise FileProblem(
            f"{what} {path} is not UTF-8 text: byte 0x{data[e.start]:02x} at offset {e.start}; save it as UTF-8"
        ) from None


def parse_json(text: str, what: str):
    """``json.loads(text)``; :class:`FileProblem` naming ``what`` for text that is not JSON or is nested
    too deeply to read."""
    try:
        return json.loads(text)
    except RecursionError:
        raise FileProblem(f"{what} is nested too deeply to be read as JSON") from None
    except ValueError as e:
        raise FileProblem(f"{what} is not JSON: {e}") from None


def read_json(path: Path, what: str, limit: int = MAX_JSON_BYTES):
    """The JSON value in the UTF-8 file ``path`` (see :func:`read_text`, :func:`parse_json`)."""
    return parse_json(read_text(path, what, limit), f"{what} {path}")


# the first bytes of the picture formats ComfyUI's LoadImage reads (Pillow)
_PICTURE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)


def picture_kind(head: bytes) -> str | None:
    """The picture format that the leading bytes ``head`` (at least 12) announce, or None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    for magic, kind in _PICTURE_MAGIC:
        if head.startswith(magic):
            return kind
    return None


def picture_problem(path: Path) -> str | None:
    """Why the regular file ``path`` is not a picture (PNG, JPEG, WebP, GIF, BMP, TIFF, by its first bytes),
    or None when it is one."""
    try:
        head = _head(path)
    except FileProblem as e:
        return str(e).split(f"{path} ", 1)[-1]
    if picture_kind(head) is None:
        return "is not a picture (PNG, JPEG, WebP, GIF, BMP or TIFF)"
    return None


def _head(path: Path, n: int = 16) -> bytes:
    problem = file_problem(path)
    if problem:
        raise FileProblem(f"picture {path} {problem}")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise FileProblem(f"picture {path} cannot be read ({e.strerror or e})") from None
    with os.fdopen(fd, "rb") as f:
        return f.read(n)
