"""The CPU thread count a render takes on a shared machine (engine.core.threads)."""

from __future__ import annotations

import os

import torch

import portraitos.engine.core.threads as threads


def test_others_running_reads_the_run_queue():
    n = threads.others_running()
    assert 0.0 <= n < 10_000


def test_a_busy_machine_gets_one_thread_and_an_idle_one_all_it_may(monkeypatch):
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
