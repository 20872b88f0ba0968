"""The CPU thread count a render takes on a shared machine (engine.core.threads)."""

from __future__ import annotations

import os

import pytest
import torch

import portraitos.engine.core.threads as threads


def test_others_running_reads_the_run_queue():
    n = threads.others_running()
    assert 0.0 <= n < 10_000


def test_this_process_threads_are_not_counted_as_others_load():
    """torch's own workers, still spinning after an operation, are this process's running threads: counted
    by own_running (the caller at least), and taken off the run queue's count."""
    import threading

    stop = threading.Event()
    a = torch.randn(256, 256)

    def spin():  # torch's matrix products run without the GIL: this thread holds a CPU throughout
        while not stop.is_set():
            a @ a

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    try:
        own = max(threads.own_running() for _ in range(20))
    finally:
        stop.set()
        spinner.join()
    assert 1 <= own <= threading.active_count() + torch.get_num_threads()
    if os.path.exists("/proc/self/task"):
        assert own >= 2  # the caller and the spinning product hold a CPU or wait for one


def test_the_environment_pins_the_count(monkeypatch):
    monkeypatch.setattr(threads, "others_running", lambda: 0.0)
    monkeypatch.setenv(threads.PIN_VARIABLE, "1")
    assert threads.fair_thread_count(8) == 1
    monkeypatch.setenv(threads.PIN_VARIABLE, "64")
    assert threads.fair_thread_count(4) == 4  # never above torch's setting
    monkeypatch.setenv(threads.PIN_VARIABLE, "two")
    with pytest.raises(ValueError, match="PORTRAITOS_CPU_THREADS='two'"):
        threads.fair_thread_count(4)


def test_a_busy_machine_gets_one_thread_and_an_idle_one_all_it_may(monkeypatch):
    monkeypatch.delenv(threads.PIN_VARIABLE, raising=False)
    cpus = os.cpu_count() or 1
    monkeypatch.setattr(threads, "others_running", lambda: float(cpus))
    assert threads.fair_thread_count(8) == 1
    monkeypatch.setattr(threads, "others_running", lambda: 0.0)
    assert threads.fair_thread_count(8) == min(8, cpus)
    assert threads.fair_thread_count(1) == 1
    monkeypatch.setattr(threads, "others_running", lambda: cpus - 1.5)  # one and a half cores idle: one thread
    assert threads.fair_thread_count(8) == 1


def test_the_setting_is_given_back_after_the_block(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "fair_thread_count", lambda limit=None: 1)
    try:
        torch.set_num_threads(2)
        with threads.fair_threads("cpu") as n:
            assert n == 1 and torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with threads.fair_threads("cuda") as n:  # a GPU's work: the setting is left alone
            assert n == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
