"""How many CPU threads a long computation should use on a machine others share.

torch splits each operation over its intra-op threads and waits at the end of it for the slowest. On a
machine whose cores are all busy with other work, a thread is often not running when the others finish:
every one of the thousands of small operations of a render then waits for it (measured: LensBokeh at
1.5 MP, 2 threads on 2 cores, 0.6 s on a quiet machine and 5–10 s under a load average of 5–6, while one
thread degrades only in proportion to its share of a core). So the work takes as many threads as there
are idle cores when it starts, at least one and at most torch's setting, and gives the setting back after.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch

SAMPLES = 3  # reads of the run queue, SAMPLE_GAP_S apart (2 ms in all): the count of running tasks is instantaneous
SAMPLE_GAP_S = 0.001


def others_running() -> float:
    """Tasks running or waiting for a CPU besides the caller, now (mean of a few reads of ``/proc/loadavg``'s
    run queue); the 1-minute load average where that file is missing (not Linux)."""
    counts = []
    for i in range(SAMPLES):
        try:
            with open("/proc/loadavg") as f:
                running = int(f.read().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return float(os.getloadavg()[0]) if hasattr(os, "getloadavg") else 0.0
        counts.append(max(running - 1, 0))  # the reading thread itself is running
        if i + 1 < SAMPLES:
            time.sleep(SAMPLE_GAP_S)
    return sum(counts) / len(counts)


def fair_thread_count(limit: int | None = None) -> int:
    """Intra-op threads to use now: the cores no other task is using (rounded down), between 1 and ``limit``
    (default: torch's current setting)."""
    limit = torch.get_num_threads() if limit is None else limit
    if limit <= 1:
        return 1
    idle = (os.cpu_count() or 1) - others_running()
    return max(1, min(limit, int(idle)))


@contextmanager
def fair_threads(device: torch.device | str | None = None) -> Iterator[int]:
    """Run the block with :func:`fair_thread_count` intra-op threads (CPU work only: on a GPU the setting is
    left alone); torch's setting is restored after. Yields the count used."""
    before = torch.get_num_threads()
    if device is not None and torch.device(device).type != "cpu":
        yield before
        return
    n = fair_thread_count(before)
    if n != before:
        torch.set_num_threads(n)
    try:
        yield n
    finally:
        if n != before:
            torch.set_num_threads(before)
