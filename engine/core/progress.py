"""The progress of long work and the way to cancel it: one object passed down the call tree.

A :class:`Progress` is a span of one progress bar. Work reports how much of its own span is done
(:meth:`Progress.advance`), hands a part of its span to each step it calls (:meth:`Progress.span`), and
calls :meth:`Progress.check` where it may stop (the check raises to cancel). A step never knows the
bar's scale or where its span lies on it: it counts in its own units (layers, bands, images).

The bar's owner makes the root: ``Progress(report, check, total)`` reports ``report(done, total)``
with ``done`` an integer step of ``total``; the nodes adapt it to ComfyUI's progress bar and Cancel
(``services.runtime.progress``). ``Progress()`` reports nothing and never cancels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Optional, Union

ReportFn = Callable[[int, int], None]  # (done, total), integer steps of the bar
CheckFn = Callable[[], None]  # raises to cancel


class Progress:
    """A span ``[lo, hi]`` (in steps of a bar of ``total``) of one progress bar, with its cancel check."""

    __slots__ = ("_report", "_check", "total", "lo", "hi")

    def __init__(self, report: Optional[ReportFn] = None, check: Optional[CheckFn] = None, total: int = 1000):
        self._report, self._check = report, check
        self.total = max(int(total), 1)
        self.lo, self.hi = 0.0, float(self.total)

    @classmethod
    def of(
        cls, progress: Union[Progress, ReportFn, None], check: Optional[CheckFn] = None, total: int = 1000
    ) -> Progress:
        """``progress`` itself when it is a Progress (with ``check`` too, if given, tried first); else a
        bar of ``total`` steps reporting to the callback ``progress(done, total)`` (or nowhere) and
        cancelled by ``check``: how the engine's entry points take the callables they are given."""
        if not isinstance(progress, Progress):
            return cls(progress, check, total)
        if check is None:
            return progress
        inner = progress._check

        def both() -> None:
            check()
            if inner is not None:
                inner()

        out = progress.span(0, 1)
        out._check = both
        return out

    @property
    def reports(self) -> bool:
        """Whether anyone watches the bar (work may skip computing what it would report)."""
        return self._report is not None

    @property
    def cancellable(self) -> bool:
        """Whether :meth:`check` can cancel (work may skip polling, e.g. from a worker thread)."""
        return self._check is not None

    def check(self) -> None:
        """Raise (whatever the check raises) when the work is to stop; cheap, call it between steps."""
        if self._check is not None:
            self._check()

    def advance(self, done: float, of: float = 1.0) -> None:
        """Move the bar to ``done`` of ``of`` units of this span (0 ≤ done ≤ of). Reports only: call
        :meth:`check` where the work may stop."""
        if self._report is not None:
            self._report(int(self.lo + (self.hi - self.lo) * done / max(of, 1e-12)), self.total)

    def span(self, start: float, end: float, of: float = 1.0) -> Progress:
        """Units ``start..end`` of ``of`` of this span, as a Progress of its own: the same bar and cancel."""
        part = Progress.__new__(Progress)
        part._report, part._check, part.total = self._report, self._check, self.total
        width = (self.hi - self.lo) / max(of, 1e-12)
        part.lo, part.hi = self.lo + width * start, self.lo + width * end
        return part

    def silent(self) -> Progress:
        """This span's cancel without its reports (work that another part of the bar already counts)."""
        part = self.span(0, 1)
        part._report = None
        return part

    def on_step(self, of: float) -> Callable[[float], None]:
        """``step(done)``: :meth:`check`, then :meth:`advance` to ``done`` of ``of`` (for work that reports
        through a callable, such as a band loop)."""

        def step(done: float) -> None:
            self.check()
            self.advance(done, of)

        return step
