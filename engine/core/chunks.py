"""Row chunks for chains of element-wise passes over large images.

A full-frame float32 plane at 8K is 133 MB: every pass over it goes to main memory. Run as a loop over
chunks of rows of about ``CHUNK_ELEMENTS`` elements, a chain of passes keeps its temporaries in the
CPU's cache and touches main memory once for input and once for output (2-3× faster on the CPU; on a
GPU one whole-frame pass per operation is better, so callers chunk on the CPU only).
"""

from __future__ import annotations

CHUNK_ELEMENTS = 1 << 17  # ~0.5 MB of float32: a chunk and a few temporaries fit in a core's L2 cache


def row_chunks(rows: int, row_elements: int, multiple_of: int = 1, min_rows: int = 1) -> list[tuple[int, int]]:
    """``[(r0, r1), ...]`` covering ``rows`` rows of ``row_elements`` elements each, about
    ``CHUNK_ELEMENTS`` per chunk (at least ``min_rows`` rows); chunk heights are a multiple of
    ``multiple_of`` (but the last)."""
    step = max(1, min_rows, CHUNK_ELEMENTS // max(row_elements, 1))
    if multiple_of > 1:
        step = max(multiple_of, step // multiple_of * multiple_of)
    return [(r, min(rows, r + step)) for r in range(0, rows, step)]
