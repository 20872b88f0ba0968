"""How a lighting setup (LIGHTING) sets the colour and strength of rebuilt bokeh highlights."""

from __future__ import annotations

from typing import Optional

from ..lighting.setup import LightingSetup
from .renderer import HighlightRebuild


def highlights_under(lighting: Optional[LightingSetup], threshold: float, boost: float) -> HighlightRebuild:
    """The highlight rebuild for display threshold ``threshold`` (0..1, brightest channel) and gain
    ``boost``: without lighting, highlights keep their own colour; with it, they take the setup's
    highlight colour (linear RGB) and its intensity multiplies the gain."""
    if lighting is None:
        return HighlightRebuild(threshold, boost, None)
    return HighlightRebuild(threshold, boost * lighting.highlight_intensity, tuple(lighting.highlight_rgb))
