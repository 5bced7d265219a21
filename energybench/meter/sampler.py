"""The sampler thread: reads a meter every ``period_s``, tags readings with the
training phase, keeps per-phase statistics and flushes rows to a sink.

* Drift-free: reading *k* is due at ``t0 + k x period_s``; the thread sleeps
  only the remainder, and when it falls behind by more than a period it skips
  the missed slots instead of bursting. It sleeps on the stop event
  (``Event.wait``), so :meth:`Sampler.stop` is seen at once.
* Cheap for the training thread: a reading holds the interpreter for a few
  microseconds (the benchmark in :mod:`energybench.bench.sampler_overhead`
  measures it), and the one-off cost of pyarrow's first conversion from Python
  objects (which imports pandas when it is installed, about half a second) is
  paid in :meth:`Sampler.start`, before training, not in the first flush.
* :meth:`Sampler.begin` takes a *boundary* reading synchronously, so every
  phase starts and ends on a reading and even a 10-ms epoch has two samples.
* The interval between consecutive readings belongs to the earlier reading's
  tag. Statistics are O(1) accumulators per (epoch, phase); readings live in
  memory only until the next flush.
* Every ``flush_s`` (and when stopping, in ``finally``) the buffered rows go
  to ``sink`` as one ``pyarrow.RecordBatch`` with exactly
  :data:`~energybench.schema.SAMPLE_SCHEMA`'s columns, outside the lock so a
  slow write never blocks :meth:`~Sampler.begin`.
* Meter errors never stop training: they are counted per kind in
  :attr:`Sampler.errors` and warned about at most once per minute per kind;
  a lost device (:class:`~energybench.meter.base.DeviceLostError`) ends
  sampling cleanly and sets :attr:`Sampler.lost`.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from ..schema import SAMPLE_SCHEMA
from .base import DOMAIN_SLICE, DOMAINS, DeviceLostError, Meter, Reading

#: Least time between two warnings of the same kind on stderr, seconds.
WARN_EVERY_S = 60.0
# Batches the sink refused, kept for retry at the next flush (then dropped, oldest first).
_MAX_PENDING_BATCHES = 100

Tag = tuple[int, str]  # (epoch, phase)


@dataclass(frozen=True)
class DomainStats:
    """Power and energy of one domain (gpu, cpu, dram) over some phases."""

    mean_power_w: float | None  # mean power of the readings, watts
    trapz_energy_j: float | None  # trapezoid integral of power, joules
    counter_energy_j: float | None  # sum of counter deltas, joules (None without a counter)

    def energy_j(self) -> float | None:
        """The authoritative energy: the counter where there is one, else the trapezoid, joules."""
        return self.counter_energy_j if self.counter_energy_j is not None else self.trapz_energy_j


@dataclass(frozen=True)
class PhaseStats:
    """Power and energy of one epoch's phases (all times Unix seconds)."""

    start_s: float  # time of the first reading of the phases
    end_s: float  # time of the reading that closed the last phase (or of the latest reading)
    samples: int  # readings within [start_s, end_s], both boundary readings included
    mean_power_w: float | None  # mean power of those readings, watts
    trapz_energy_j: float | None  # trapezoid integral of power over the phases' intervals, joules
    counter_energy_j: float | None  # sum of counter deltas over those intervals, joules (None without a counter)
    domains: dict[str, DomainStats] = field(default_factory=dict)  # the domains the readings carried

    def energy_j(self) -> float | None:
        """The authoritative energy, joules: the sum of the domains' (each its counter, else its
        trapezoid) where the readings carry domains, else the total's counter, else its trapezoid."""
        if self.domains:
            parts = [d.energy_j() for d in self.domains.values()]
            return sum(parts) if all(p is not None for p in parts) else None  # type: ignore[misc]
        return self.counter_energy_j if self.counter_energy_j is not None else self.trapz_energy_j


class _Channel:
    """Running sums of one quantity's power and counter (the total, or one domain)."""

    __slots__ = ("n_power", "sum_power_w", "trapz_j", "n_trapz", "counter_j", "counter_ok", "seen", "gaps")

    def __init__(self) -> None:
        self.n_power = 0
        self.sum_power_w = 0.0
        self.trapz_j = 0.0
        self.n_trapz = 0  # intervals with at least one power value
        self.counter_j = 0.0
        self.counter_ok = True  # every interval had a counter at both ends
        self.seen = False  # some reading carried a value
        self.gaps = 0  # intervals where neither end carried a value (no counter there either)

    def add_power(self, p_w: float | None) -> None:
        if p_w is not None:
            self.n_power += 1
            self.sum_power_w += p_w
            self.seen = True

    def add_interval(self, pa_w: float | None, pb_w: float | None, ea_j: float | None, eb_j: float | None,
                     dt_s: float) -> None:
        if pa_w is not None or pb_w is not None:  # one missing end: hold the other's value
            pa_w = pb_w if pa_w is None else pa_w
            pb_w = pa_w if pb_w is None else pb_w
            self.trapz_j += 0.5 * (pa_w + pb_w) * dt_s  # type: ignore[operator]
            self.n_trapz += 1
        if ea_j is not None and eb_j is not None:
            self.counter_j += eb_j - ea_j
            self.seen = True
        else:
            self.counter_ok = False


class _Acc:
    """Running sums of one (epoch, phase): O(1) memory however long it lasts."""

    __slots__ = ("first_s", "end_s", "tagged", "total", "domains", "chans", "intervals", "closings")

    def __init__(self, first_s: float) -> None:
        self.first_s = first_s
        self.end_s = first_s
        self.tagged = 0  # readings carrying this tag
        self.total = _Channel()
        self.domains = {d: _Channel() for d in DOMAINS}
        self.chans = tuple(self.domains[d] for d in DOMAINS)
        self.intervals = 0
        # Readings that closed a run of this tag, by the tag they opened: [count, power per channel...].
        self.closings: dict[Tag, list[Any]] = {}

    def add_reading(self, r: Reading) -> None:
        self.tagged += 1
        self.end_s = r.time_s
        self.total.add_power(r.power_w)
        values = r[DOMAIN_SLICE]  # (power, energy) of each domain, flat
        for k, ch in enumerate(self.chans):
            if values[2 * k] is not None:
                ch.add_power(values[2 * k])

    def add_interval(self, a: Reading, b: Reading) -> None:
        dt_s = max(b.time_s - a.time_s, 0.0)
        self.intervals += 1
        self.end_s = b.time_s
        self.total.add_interval(a.power_w, b.power_w, a.energy_j, b.energy_j, dt_s)
        va, vb = a[DOMAIN_SLICE], b[DOMAIN_SLICE]
        for k, ch in enumerate(self.chans):
            pa_w, ea_j, pb_w, eb_j = va[2 * k], va[2 * k + 1], vb[2 * k], vb[2 * k + 1]
            if pa_w is None and ea_j is None and pb_w is None and eb_j is None:
                ch.gaps += 1  # the domain is absent here (not metered, or a reading without it)
            else:
                ch.add_interval(pa_w, pb_w, ea_j, eb_j, dt_s)

    def add_closing(self, b: Reading, opened: Tag) -> None:
        c = self.closings.setdefault(opened, [0, [0, 0.0], {d: [0, 0.0] for d in DOMAINS}])
        c[0] += 1
        for slot, p_w in [(c[1], b.power_w)] + [(c[2][d], b.domain(d)[0]) for d in DOMAINS]:
            if p_w is not None:
                slot[0] += 1
                slot[1] += p_w


def _channel_stats(chans: list[_Channel], extra: list[list[Any]], counter_ok: bool) -> DomainStats:
    n = sum(c.n_power for c in chans) + sum(int(e[0]) for e in extra)
    s = sum(c.sum_power_w for c in chans) + sum(e[1] for e in extra)
    return DomainStats(mean_power_w=s / n if n else None,
                       trapz_energy_j=sum(c.trapz_j for c in chans) if any(c.n_trapz for c in chans) else None,
                       counter_energy_j=sum(c.counter_j for c in chans)
                       if counter_ok and all(c.counter_ok and not c.gaps for c in chans) else None)


def _merge(accs: list[_Acc], tags: set[Tag]) -> PhaseStats:
    samples = sum(a.tagged for a in accs)
    # a closing reading tagged with a merged phase is already counted
    closings = [c for a in accs for opened, c in a.closings.items() if opened not in tags]
    samples += sum(int(c[0]) for c in closings)
    intervals_ok = sum(a.intervals for a in accs) > 0
    total = _channel_stats([a.total for a in accs], [c[1] for c in closings], intervals_ok)
    domains = {d: _channel_stats([a.domains[d] for a in accs], [c[2][d] for c in closings], intervals_ok)
               for d in DOMAINS if any(a.domains[d].seen for a in accs)}
    return PhaseStats(
        start_s=min(a.first_s for a in accs), end_s=max(a.end_s for a in accs), samples=samples,
        mean_power_w=total.mean_power_w, trapz_energy_j=total.trapz_energy_j,
        counter_energy_j=total.counter_energy_j, domains=domains,
    )


def merge_stats(accs: dict[Tag, _Acc], epoch: int, phases: tuple[str, ...]) -> PhaseStats | None:
    """Merged statistics of ``phases`` in ``epoch`` from per-tag running sums; None if none has a reading."""
    tags = {(epoch, p) for p in phases}
    found = [accs[t] for t in tags if t in accs]
    return _merge(found, tags) if found else None


def next_slot(next_mono: float, period_s: float, now_mono: float) -> tuple[float, float, int]:
    """The drift-free schedule: the slot after ``next_mono``, the delay until it from ``now_mono``, and
    how many slots were skipped (behind by more than a period: skip, don't burst)."""
    next_mono += period_s
    delay_s = next_mono - now_mono
    skipped = 0
    if delay_s < -period_s:
        skipped = math.floor(-delay_s / period_s)
        next_mono += skipped * period_s
        delay_s += skipped * period_s
    return next_mono, delay_s, skipped


_COLUMNS = ("time_s", "epoch", "phase", "power_w", "energy_j", "gpu_util_pct", "mem_used_mib",
            "temperature_c", "sm_clock_mhz", *(f"{d}_{q}" for d in DOMAINS for q in ("power_w", "energy_j")),
            "gpu_power_avg_w", "gpu_mem_power_w")
#: Sample columns copied from the Reading field of the same name (consecutive fields of Reading).
_SAME = tuple(c for c in _COLUMNS[9:])
_SAME_SLICE = slice(Reading._fields.index(_SAME[0]), Reading._fields.index(_SAME[-1]) + 1)
assert Reading._fields[_SAME_SLICE] == _SAME


class Sampler:
    """Samples ``meter`` on a named daemon thread; see the module docstring."""

    def __init__(self, meter: Meter, *, run_id: str, attempt: int, period_s: float, flush_s: float,
                 sink: Callable[[pa.RecordBatch], object], name: str = "energybench-sampler") -> None:
        if period_s <= 0 or flush_s <= 0:
            raise ValueError("period_s and flush_s must be > 0")
        self.meter = meter
        self.run_id = run_id
        self.attempt = attempt
        self.period_s = period_s
        self.flush_s = flush_s
        self.sink = sink
        self.name = name
        self.lost = False  # the device was lost; sampling has ended
        self.rows_flushed = 0
        self.skipped_periods = 0  # sampling slots skipped because the thread fell behind
        self._set_load = getattr(meter, "set_load", None)
        self._lock = threading.Lock()  # readings, tag, accumulators, buffers
        self._flush_lock = threading.Lock()  # one sink call at a time
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._tag: Tag = (0, "idle")
        self._prev: Reading | None = None
        self._prev_tag: Tag = self._tag
        self._accs: dict[Tag, _Acc] = {}
        self._cols: dict[str, list[Any]] = {c: [] for c in _COLUMNS}
        self._pending: list[pa.RecordBatch] = []
        self._errors: dict[str, list[Any]] = {}  # kind -> [first message, count]
        self._warned_mono: dict[str, float] = {}
        self._last_flush_mono = time.monotonic()

    # ------------------------------------------------------------ public API
    def start(self) -> None:
        """Take a first reading now and start the sampling thread."""
        if self._thread is not None:
            return
        t0_mono = self.prime()
        self._thread = threading.Thread(target=self._run, args=(t0_mono,), name=self.name, daemon=True)
        self._thread.start()

    def begin(self, epoch: int, phase: str) -> Reading | None:
        """Take a boundary reading now and tag it, and every later reading, ``(epoch, phase)``."""
        with self._lock:
            self._tag = (epoch, phase)
            if self._stopped:  # the meter may be closed already
                return None
            reading = self._sample_locked()
            if self._set_load is not None:
                self._set_load(phase)
        return reading

    def stats(self, epoch: int, phases: tuple[str, ...] = ("train", "eval")) -> PhaseStats | None:
        """Merged statistics of ``phases`` in ``epoch``; None if none of them has a reading."""
        with self._lock:
            return merge_stats(self._accs, epoch, phases)

    def stop(self) -> None:
        """Stop the thread, take a last reading and flush what is buffered. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._stop_event.set()
        try:
            if self._thread is not None:
                self._thread.join()
                with self._lock:
                    self._sample_locked()
        finally:
            self._flush()

    @property
    def errors(self) -> list[str]:
        """Meter and sink failures: the first message of each kind and how often it happened."""
        with self._lock:
            return [f"{kind}: {msg}" + (f" (x{n})" if n > 1 else "") for kind, (msg, n) in self._errors.items()]

    # -------------------------------- driving it on a schedule of one's own (the process sampler's child)
    def prime(self) -> float:
        """What :meth:`start` does before the thread starts: pay pyarrow's first-conversion cost and
        take the first reading. Returns the monotonic time the schedule starts from."""
        self._batch({c: [] for c in _COLUMNS})
        t0_mono = time.monotonic()
        with self._lock:
            self._sample_locked()
        return t0_mono

    def tick(self) -> Reading | None:
        """Take one scheduled reading now, under the tag in force (what the thread does every period)."""
        with self._lock:
            return self._sample_locked()

    def flush(self) -> None:
        """Hand the buffered rows to the sink now (the thread does so every ``flush_s``)."""
        self._flush()

    def flush_due(self) -> bool:
        """Whether ``flush_s`` has passed since the last flush."""
        return time.monotonic() - self._last_flush_mono >= self.flush_s

    def accumulators(self) -> dict[Tag, "_Acc"]:
        """A copy of the per-(epoch, phase) running sums (picklable; :func:`merge_stats` reads them)."""
        with self._lock:
            return dict(self._accs)

    def __enter__(self) -> "Sampler":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ internals
    def _run(self, t0_mono: float) -> None:
        next_mono = t0_mono
        try:
            while True:
                next_mono, delay_s, skipped = next_slot(next_mono, self.period_s, time.monotonic())
                self.skipped_periods += skipped
                if self._stop_event.wait(max(delay_s, 0.0)):
                    break
                with self._lock:
                    self._sample_locked()
                if self.lost:
                    break
                if time.monotonic() - self._last_flush_mono >= self.flush_s:
                    self._flush()
        finally:
            if not self._stop_event.is_set():  # ended on its own (device lost, a bug): keep the rows
                self._flush()  # (after stop(), stop() flushes with its last reading)

    def _sample_locked(self) -> Reading | None:
        """Read the meter and record the reading under the current tag (lock held)."""
        if self.lost:
            return None
        try:
            r = self.meter.read()
        except DeviceLostError as exc:
            self.lost = True
            self._note(type(exc).__name__, exc)
            return None
        except Exception as exc:  # never let a meter bug end sampling or training
            self._note(type(exc).__name__, exc)
            return None
        tag = self._tag
        prev = self._prev
        if prev is not None:
            acc_prev = self._accs[self._prev_tag]
            acc_prev.add_interval(prev, r)
            if tag != self._prev_tag:
                acc_prev.add_closing(r, tag)
        acc = self._accs.get(tag)
        if acc is None:
            acc = self._accs[tag] = _Acc(r.time_s)
        acc.add_reading(r)
        self._prev, self._prev_tag = r, tag
        cols = self._cols
        cols["time_s"].append(r.time_s)
        cols["epoch"].append(tag[0])
        cols["phase"].append(tag[1])
        cols["power_w"].append(r.power_w)
        cols["energy_j"].append(r.energy_j)
        cols["gpu_util_pct"].append(r.util_pct)
        cols["mem_used_mib"].append(r.mem_used_mib)
        cols["temperature_c"].append(r.temperature_c)
        cols["sm_clock_mhz"].append(r.sm_clock_mhz)
        for name, value in zip(_SAME, r[_SAME_SLICE]):
            cols[name].append(value)
        return r

    def _batch(self, cols: dict[str, list[Any]]) -> pa.RecordBatch:
        n = len(cols["time_s"])
        arrays = {
            "run_id": pa.array([self.run_id] * n, pa.string()),
            "attempt": pa.array([self.attempt] * n, pa.int32()),
            "meter": pa.array([self.meter.kind] * n, pa.string()),
            **{c: pa.array(v, SAMPLE_SCHEMA.field(c).type) for c, v in cols.items()},
        }
        return pa.RecordBatch.from_arrays([arrays[name] for name in SAMPLE_SCHEMA.names], schema=SAMPLE_SCHEMA)

    def _flush(self) -> None:
        """Hand buffered rows (and batches the sink refused before) to the sink."""
        with self._flush_lock:
            with self._lock:
                cols, self._cols = self._cols, {c: [] for c in _COLUMNS}
                self._last_flush_mono = time.monotonic()
            batches = self._pending + ([self._batch(cols)] if cols["time_s"] else [])
            for i, batch in enumerate(batches):
                try:
                    self.sink(batch)
                except Exception as exc:  # keep sampling; retry at the next flush
                    with self._lock:
                        self._note(f"sink {type(exc).__name__}", exc)
                    self._pending = batches[i:][-_MAX_PENDING_BATCHES:]
                    return
                self.rows_flushed += batch.num_rows
            self._pending = []

    def _note(self, kind: str, exc: BaseException) -> None:
        """Count a failure (lock held); warn on stderr at most once per :data:`WARN_EVERY_S` per kind."""
        note_error(self._errors, self._warned_mono, kind, exc)


def note_error(errors: dict[str, list[Any]], warned_mono: dict[str, float], kind: str,
               exc: BaseException | str) -> None:
    """Count a sampler failure in ``errors`` (kind -> [first message, count]); warn on stderr at most
    once per :data:`WARN_EVERY_S` per kind (``warned_mono``: when each kind last warned)."""
    msg = exc if isinstance(exc, str) else (str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    entry = errors.setdefault(kind, [msg, 0])
    entry[1] += 1
    now = time.monotonic()
    last = warned_mono.get(kind)
    if last is None or now - last >= WARN_EVERY_S:
        warned_mono[kind] = now
        try:
            print(f"energybench sampler: {kind}: {msg} (occurrence {entry[1]}; "
                  f"repeats are not shown for {WARN_EVERY_S:g} s)", file=sys.stderr, flush=True)
        except OSError:  # stderr is the run's log: on a full disk the warning cannot end sampling
            pass
