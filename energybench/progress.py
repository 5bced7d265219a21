"""Progress of a long loop over runs: a rich bar on a terminal, else a plain line now and then.

The bar goes to stderr and only when stderr is a terminal, so logs, pipes and
CI output keep the plain lines (no control sequences). While the bar is shown,
anything else written to stdout or stderr is printed above it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any


class RunProgress:
    """Counts runs, shards and samples; shows them as a bar or as a line every ``every`` runs."""

    def __init__(self, total: int, label: str, echo: Callable[[str], None], *, tty: bool | None = None,
                 every: int = 50) -> None:
        self.total, self.label, self.echo, self.every = total, label, echo, every
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.runs = self.shards = self.samples = 0
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> "RunProgress":
        if self.tty:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)

            self._bar = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("runs"),
                TextColumn("{task.fields[shards]:,} shards, {task.fields[samples]:,} samples"),
                TimeElapsedColumn(), TimeRemainingColumn(),
                console=Console(file=sys.stderr), transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total, shards=0, samples=0)
        return self

    def advance(self, shards: int = 0, samples: int = 0, runs: int = 1) -> None:
        """``runs`` more runs done (default one), having read ``shards`` files and kept ``samples`` readings."""
        self.runs += runs
        self.shards += shards
        self.samples += samples
        if self._bar is not None:
            self._bar.update(self._task, advance=runs, shards=self.shards, samples=self.samples)
        elif runs and (self.runs % self.every == 0 or self.runs == self.total):
            self.echo(f"{self.label}: {self.runs}/{self.total} runs read "
                      f"({self.shards:,} shards, {self.samples:,} samples)")

    def note(self, message: str, fallback: Callable[[str], None]) -> None:
        """Show ``message`` on its own line above the live bar, else hand it to ``fallback``.

        (Writing to stderr directly while the bar is live would land in the middle of its line.)
        """
        if self._bar is not None:
            self._bar.console.print(message, markup=False, highlight=False, soft_wrap=True)
        else:
            fallback(message)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
