"""What to tell a user whose model file could not be read: one line, never torch's advice to load it with
``weights_only=False`` (that would run whatever code the file carries; PortraitOS never unpickles beyond
plain weights)."""

from __future__ import annotations

MAX_CHARS = 300


def load_error_text(e: BaseException) -> str:
    """A one-line reason for ``e`` raised while loading a model file."""
    text = str(e)
    if "weights_only" in text or "Weights only load failed" in text:
        detail = ""
        for line in text.splitlines():
            if "WeightsUnpickler error:" in line:
                detail = line.split("WeightsUnpickler error:", 1)[1].strip()
                break
        why = "it holds Python objects beyond plain weights, which are never loaded (unsafe to unpickle)"
        return f"{why}{f': {detail}' if detail else ''}"[:MAX_CHARS]
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"{type(e).__name__}: {first}"[:MAX_CHARS]
