"""How many CPU threads a long computation should use on a machine others share.

torch splits each operation over its intra-op threads and waits at the end of it for the slowest. On a
machine whose cores are all busy with other work, a thread is often not running when the others finish:
every one of the thousands of small operations of a render then waits for it (measured: LensBokeh at
1.5 MP, 2 threads on 2 cores, 0.6 s on a quiet machine and 5–10 s under a load average of 5–6, while one
thread degrades only in proportion to its share of a core). So the work takes as many threads as there
are idle cores when it starts, at least one and at most torch's setting, and gives the setting back after.

The count changes a render's float round-off (about 1e-6), not its picture. ``PORTRAITOS_CPU_THREADS=N`` in
the environment pins it (at most torch's setting) for runs that must repeat bit for bit.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch

SAMPLES = 3  # reads of the run queue, SAMPLE_GAP_S apart (2 ms in all): the count of running tasks is instantaneous
SAMPLE_GAP_S = 0.001
PIN_VARIABLE = "PORTRAITOS_CPU_THREADS"  # a fixed thread count, from the environment


def own_running() -> int:
    """Threads of this process running or ready to run now (state R in ``/proc/self/task/*/stat``; the
    caller's own thread among them): torch's workers still spinning after the last operation are these,
    not other load. 1 where ``/proc`` is missing."""
    try:
        names = os.listdir("/proc/self/task")
    except OSError:
        return 1
    running = 0
    for name in names:
        try:
            with open(f"/proc/self/task/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue  # the thread ended while we read
        if stat[stat.rfind(")") + 2 : stat.rfind(")") + 3] == "R":
            running += 1
    return max(running, 1)


def others_running() -> float:
    """Tasks of other processes running or waiting for a CPU now (mean of a few reads of ``/proc/loadavg``'s
    run queue, less this process's running threads, :func:`own_running`); the 1-minute load average where
    that file is missing (not Linux)."""
    counts = []
    for i in range(SAMPLES):
        try:
            with open("/proc/loadavg") as f:
                running = int(f.read().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return float(os.getloadavg()[0]) if hasattr(os, "getloadavg") else 0.0
        counts.append(max(running - own_running(), 0))  # this process's threads are not others' load
        if i + 1 < SAMPLES:
            time.sleep(SAMPLE_GAP_S)
    return sum(counts) / len(counts)


def fair_thread_count(limit: int | None = None) -> int:
    """Intra-op threads to use now: the cores no other task is using (rounded down), between 1 and ``limit``
    (default: torch's current setting); ``PORTRAITOS_CPU_THREADS`` pins it."""
    limit = torch.get_num_threads() if limit is None else limit
    pinned = os.environ.get(PIN_VARIABLE, "").strip()
    if pinned:
        try:
            return max(1, min(limit, int(pinned)))
        except ValueError:
            raise ValueError(f"{PIN_VARIABLE}={pinned!r}: give a whole number of threads, e.g. 1") from None
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
