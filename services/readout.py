"""What a node shows in the editor after it ran: preview pictures on the node and the numbers an
artist needs (focus distance and how it was chosen, depth range and source, temperatures).

The node's UI output (``executed`` message over /ws, ``outputs`` in ``/history``) carries:

- ``images``: the previews (ComfyUI's temp files, as PreviewImage makes them), shown on the node;
- ``text``: the same numbers as one line per image, for clients that read plain text;
- ``portraitos``: a list with one object ``{"lines": [...], "labels": {output name: label},
  "values": {...}, "warnings": [...]}``. ``labels`` are short read-outs meant for the node's
  output-slot labels (they show in the classic canvas and in the Nodes 2.0 renderer), ``values``
  the same numbers unformatted for scripts.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from typing import Any

import torch
from comfy_api.latest import ui

READOUT_KEY = "portraitos"
log = logging.getLogger("PortraitOS")


@contextlib.contextmanager
def caught_warnings(node: str) -> Iterator[list[str]]:
    """The warnings the engine raises inside the block (non-finite pixels replaced, a lens bounded…):
    the yielded list is filled with their texts when the block ends, and each is logged under ``node``."""
    found: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield found
    found.extend(str(w.message) for w in caught)
    for text in found:
        log.warning("%s: %s", node, text)


def node_ui(
    images: tuple[torch.Tensor, ...] = (),
    masks: tuple[torch.Tensor, ...] = (),
    lines: list[str] | None = None,
    labels: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    warnings: list[str] | None = None,
) -> dict[str, list]:
    """The UI output dict: previews of ``images`` (IMAGE ``[B,H,W,3]``) then ``masks`` (MASK ``[B,H,W]``)."""
    saved: list = []
    for im in images:
        saved += ui.PreviewImage(im.detach().float().clamp(0, 1).cpu()).values
    for m in masks:
        saved += ui.PreviewMask(m.detach().float().clamp(0, 1).cpu()).values
    lines = list(lines or [])
    warnings = list(warnings or [])
    out: dict[str, list] = {}
    if saved:
        out["images"] = saved
        out["animated"] = [False]
    out["text"] = ["\n".join(lines + [f"⚠ {w}" for w in warnings])]
    out[READOUT_KEY] = [
        {"lines": lines, "labels": dict(labels or {}), "values": dict(values or {}), "warnings": warnings}
    ]
    return out


def metres(d: float) -> str:
    """A distance for a label: ``1.52 m``, ``12.3 m``."""
    return f"{d:.3g} m" if d < 100 else f"{d:.0f} m"
