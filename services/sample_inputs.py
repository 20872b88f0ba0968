"""The pack's sample pictures (``example_inputs/``) made loadable by ComfyUI's own LoadImage.

LoadImage (ComfyUI 0.3.75) reads only ComfyUI's input folder (``folder_paths.get_input_directory()``,
or ``--input-directory``) and lists only the files directly in it (newer frontends mark a value that is
not listed as "missing"); no API adds another folder to it. So the shipped workflows name
``portraitos_<file>`` and, when ComfyUI loads the pack, each sample missing from ``<input>/`` is copied
there once under that name. Nothing is ever overwritten or deleted, and a read-only input folder only
costs a log line (the workflows then ask for a photo like any LoadImage).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import folder_paths

log = logging.getLogger("PortraitOS")

SAMPLES_DIR = Path(__file__).resolve().parents[1] / "example_inputs"
PREFIX = "portraitos_"
SAMPLE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


def sample_files() -> list[Path]:
    return sorted(p for p in SAMPLES_DIR.iterdir() if p.suffix.lower() in SAMPLE_SUFFIXES)


def sample_name(src: Path) -> str:
    """The name a sample has in ComfyUI's input folder (what the shipped workflows' LoadImage names)."""
    return PREFIX + src.name


def install_samples(input_dir: str | Path | None = None) -> list[Path]:
    """Copy the samples missing from ``<input>/``; return the files written."""
    target = Path(input_dir or folder_paths.get_input_directory())
    written = []
    try:
        for src in sample_files():
            dest = target / sample_name(src)
            if dest.exists():
                continue
            target.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.part")
            shutil.copyfile(src, tmp)
            tmp.replace(dest)
            written.append(dest)
    except OSError as e:
        log.warning(
            "PortraitOS: could not copy the sample pictures into %s (%s); the shipped workflows "
            "need a photo uploaded on their LoadImage node",
            target,
            e,
        )
        return written
    if written:
        log.info("PortraitOS: sample pictures for the shipped workflows copied to %s", target)
    return written
