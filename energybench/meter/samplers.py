"""One factory for both samplers: ``meter.sampler: thread | process``.

* ``thread``: :class:`ThreadSampler`, today's :class:`~energybench.meter.sampler.Sampler` (a
  daemon thread of the training process) around a meter it opens (and closes) itself;
* ``process``: :class:`~energybench.meter.process.ProcessSampler`, the meter opened and read in a
  child process, told of phase changes over a socket.

Both have one interface: ``start()`` (opens the meter; raises
:class:`~energybench.errors.MeterError` when it cannot), ``begin(epoch, phase)``,
``stats(epoch, phases)``, ``stop()`` (idempotent, also after a failed start; closes the meter),
``errors``, ``rows_flushed``, ``lost``, and after start ``meter_kind`` and ``meter_info`` (the
meter's ``info()``; after stop, as it was when the meter closed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from . import open_meter, print_to_stderr
from .base import Meter, Reading
from .process import ProcessSampler
from .sampler import PhaseStats, Sampler

__all__ = ["MODES", "ProcessSampler", "ThreadSampler", "open_sampler"]

MODES = ("thread", "process")


class ThreadSampler:
    """:class:`Sampler` around a meter opened at :meth:`start` (or one given, which the caller owns)."""

    def __init__(self, meter_kind: str = "auto", *, run_id: str, attempt: int, period_s: float, flush_s: float,
                 sink: Callable[[pa.RecordBatch], object], tdp_w: float | None = None, device: str = "cpu",
                 meter: Meter | None = None, log: Callable[[str], None] = print_to_stderr,
                 name: str = "energybench-sampler") -> None:
        if period_s <= 0 or flush_s <= 0:
            raise ValueError("period_s and flush_s must be > 0")
        self._open = (meter_kind, tdp_w, device, log)
        self._kwargs = {"run_id": run_id, "attempt": attempt, "period_s": period_s, "flush_s": flush_s,
                        "sink": sink, "name": name}
        self._owns_meter = meter is None
        self.meter: Meter | None = meter
        self.sampler: Sampler | None = None
        self.meter_info: dict[str, Any] | None = None
        self._stopped = False

    @property
    def meter_kind(self) -> str | None:
        return self.meter.kind if self.meter is not None else None

    def start(self) -> None:
        if self.sampler is not None:
            return
        if self.meter is None:
            kind, tdp_w, device, log = self._open
            self.meter = open_meter(kind, tdp_w=tdp_w, device=device, log=log)
        self.meter_info = self.meter.info()
        self.sampler = Sampler(self.meter, **self._kwargs)  # type: ignore[arg-type]
        self.sampler.start()

    def begin(self, epoch: int, phase: str) -> Reading | None:
        return self.sampler.begin(epoch, phase) if self.sampler is not None else None

    def stats(self, epoch: int, phases: tuple[str, ...] = ("train", "eval")) -> PhaseStats | None:
        return self.sampler.stats(epoch, phases) if self.sampler is not None else None

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        try:
            if self.sampler is not None:
                self.sampler.stop()
        finally:
            if self.meter is not None and self._owns_meter:
                self.meter.close()
            if self.meter is not None:
                self.meter_info = self.meter.info()

    @property
    def errors(self) -> list[str]:
        return self.sampler.errors if self.sampler is not None else []

    @property
    def rows_flushed(self) -> int:
        return self.sampler.rows_flushed if self.sampler is not None else 0

    @property
    def lost(self) -> bool:
        return self.sampler.lost if self.sampler is not None else False

    def __enter__(self) -> "ThreadSampler":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def open_sampler(mode: str, meter_kind: str = "auto", *, run_id: str, attempt: int, period_s: float,
                 flush_s: float, sink: Callable[[pa.RecordBatch], object], tdp_w: float | None = None,
                 device: str = "cpu", **extra: Any) -> ThreadSampler | ProcessSampler:
    """The sampler of ``mode`` (``thread`` | ``process``) for the meter ``meter_kind`` (opened at
    ``start()``). ``extra`` goes to the class (``meter=`` for a thread sampler around a meter the
    caller opened; ``meter_factory=``/``meter_options=``/``cpu_pid=`` for a process sampler)."""
    if mode == "thread":
        return ThreadSampler(meter_kind, run_id=run_id, attempt=attempt, period_s=period_s, flush_s=flush_s,
                             sink=sink, tdp_w=tdp_w, device=device, **extra)
    if mode == "process":
        return ProcessSampler(meter_kind, run_id=run_id, attempt=attempt, period_s=period_s, flush_s=flush_s,
                              sink=sink, tdp_w=tdp_w, device=device, **extra)
    raise ValueError(f"sampler mode {mode!r} is not one of {', '.join(repr(m) for m in MODES)}")
