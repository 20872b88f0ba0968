"""The Progress object: spans of one bar, reports in the bar's integer steps, Cancel through one check."""

from __future__ import annotations

import pytest

from portraitos.engine.core.progress import Progress


class Cancelled(Exception):
    pass


def test_spans_map_their_own_units_onto_the_bar():
    ticks = []
    bar = Progress(lambda done, total: ticks.append((done, total)), total=2 * 1000)
    second = bar.span(1, 2, 2)  # the second of two images
    second.advance(0)
    layers = second.span(40, 1000, 1000)  # after its 4 % set-up
    layers.advance(1, 4)
    layers.span(3, 4, 4).advance(0.5)  # half-way through its last layer
    layers.advance(4, 4)
    assert ticks == [(1000, 2000), (1280, 2000), (1880, 2000), (2000, 2000)]


def test_advance_reports_only_and_check_cancels_only():
    ticks, checks = [], []
    bar = Progress(lambda d, t: ticks.append(d), lambda: checks.append(1), total=10)
    bar.advance(3, 10)
    assert ticks == [3] and checks == []
    bar.check()
    assert ticks == [3] and checks == [1]
    step = bar.span(5, 10, 10).on_step(5)  # check, then advance: the steps of a band loop
    step(5)
    assert ticks == [3, 10] and checks == [1, 1]


def test_no_watcher_no_cancel():
    quiet = Progress()
    quiet.advance(1)
    quiet.check()
    assert not quiet.reports and not quiet.cancellable
    assert Progress(check=lambda: None).cancellable and not Progress(check=lambda: None).reports


def test_of_wraps_callables_and_passes_a_progress_on():
    ticks = []

    def cancel():
        raise Cancelled

    wrapped = Progress.of(lambda d, t: ticks.append((d, t)), cancel, total=12)
    wrapped.advance(6, 12)
    assert ticks == [(6, 12)]
    with pytest.raises(Cancelled):
        wrapped.check()
    given = Progress(lambda d, t: ticks.append((d, t)), total=100)
    assert Progress.of(given, None, total=5) is given  # its own bar and scale, not the callee's
    calls = []
    both = Progress.of(given, lambda: calls.append("extra"))
    both.check()
    both.advance(1)
    assert calls == ["extra"] and ticks[-1] == (100, 100)


def test_silent_keeps_cancel_and_drops_reports():
    ticks = []

    def cancel():
        raise Cancelled

    part = Progress(lambda d, t: ticks.append(d), cancel, total=10).span(2, 4, 10).silent()
    part.advance(1)
    assert ticks == []
    with pytest.raises(Cancelled):
        part.check()
