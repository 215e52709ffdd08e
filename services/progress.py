"""Progress of long operations: count, rate and ETA — a bar on a terminal,
structured log lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from services.logging import get_logger

log = get_logger("progress")

BAR_WIDTH = 30


class Progress:
    def __init__(
        self, label: str, total: int, unit: str = "events", stream: TextIO | None = None, log_every: float = 5.0
    ) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.log_every = log_every
        self.started = time.monotonic()
        self._last_shown = 0.0
        self.done = 0

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def eta_seconds(self) -> float | None:
        rate = self.rate()
        return (self.total - self.done) / rate if rate > 0 and self.total >= self.done else None

    def __call__(self, done: int) -> None:
        """``done`` so far; 0 starts the clock again (a step that begins
        after the operation did)."""
        now = time.monotonic()
        if done == 0:
            self.started = now
        self.done = done
        if now - self._last_shown >= (0.2 if self.tty else self.log_every):
            self._last_shown = now
            self._show()

    def _show(self, final: bool = False) -> None:
        eta = self.eta_seconds()
        if self.tty:
            share = self.done / self.total if self.total else 1.0
            filled = int(BAR_WIDTH * min(share, 1.0))
            bar = "#" * filled + "-" * (BAR_WIDTH - filled)
            eta_text = "" if final or eta is None else f" ETA {eta:,.0f}s"
            self.stream.write(
                f"\r{self.label} [{bar}] {self.done:,}/{self.total:,} {self.unit} {self.rate():,.0f}/s{eta_text}   "
            )
            if final:
                self.stream.write("\n")
            self.stream.flush()
        else:
            log.info(
                self.label,
                done=self.done,
                total=self.total,
                unit=self.unit,
                rate_per_second=round(self.rate()),
                eta_seconds=None if eta is None else round(eta, 1),
                finished=final,
            )

    def finish(self) -> None:
        self._show(final=True)
