"""Glue between the engine and ComfyUI's runtime: devices, progress bars and interruption."""

from __future__ import annotations

import comfy.model_management as mm
import comfy.utils

from portraitos.engine.core.progress import Progress


def compute_device():
    """The torch device ComfyUI computes on (GPU when present, ``--cpu`` honoured)."""
    return mm.get_torch_device()


def output_device():
    """Where node outputs live between nodes."""
    return mm.intermediate_device()


def progress(total: int = 1000) -> Progress:
    """The engine's :class:`Progress` for one node's run: a ComfyUI progress bar of ``total`` steps (shown
    on the node, sent over /ws) and Cancel (ComfyUI's interruption exception, raised by its check)."""
    bar = comfy.utils.ProgressBar(total)
    return Progress(bar.update_absolute, mm.throw_exception_if_processing_interrupted, total)


def check_interrupt() -> None:
    """Raise ComfyUI's interruption exception if the user pressed Cancel."""
    mm.throw_exception_if_processing_interrupted()
