"""The sampler thread: timing, tagging, statistics, flushing, failures, SIGKILL."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from energybench.errors import MeterError
from energybench.meter.base import Reading
from energybench.meter.sampler import Sampler
from energybench.meter.synthetic import SyntheticMeter
from energybench.paths import RunPaths
from energybench.schema import SAMPLE_SCHEMA
from energybench.shards import read_shard


class Sink:
    """Collects batches with the (monotonic) time each arrived."""

    def __init__(self) -> None:
        self.batches: list[pa.RecordBatch] = []
        self.at_s: list[float] = []

    def __call__(self, batch: pa.RecordBatch) -> None:
        self.batches.append(batch)
        self.at_s.append(time.monotonic())

    def table(self) -> pa.Table:
        return pa.Table.from_batches(self.batches, schema=SAMPLE_SCHEMA)


class Scripted:
    """A meter whose ``read()`` number n (from 1) returns ``script(n)``; no info, nothing to close."""

    kind = "synthetic"

    def __init__(self, script: Callable[[int], Reading]) -> None:
        self.script = script
        self.n = 0

    def read(self) -> Reading:
        self.n += 1
        return self.script(self.n)


def _sampler(meter: Any, sink: Sink, period_s: float = 0.01, flush_s: float = 10.0) -> Sampler:
    return Sampler(meter, run_id="run1", attempt=2, period_s=period_s, flush_s=flush_s, sink=sink)


def exact_energy_j(meter: SyntheticMeter, a_s: float, b_s: float) -> float:
    """Closed-form integral of the synthetic trace over [a_s, b_s], from its load switches."""
    w = 2 * math.pi / meter.ripple_period_s
    edges = meter.transitions + [(math.inf, "")]
    total = 0.0
    for (t0, phase), (t1, _) in zip(edges, edges[1:]):
        lo, hi = max(a_s, t0), min(b_s, t1)
        if hi > lo:
            base = meter.load_w[phase]
            x0, x1 = lo - meter.open_s, hi - meter.open_s
            total += base * (x1 - x0) + base * meter.ripple_frac / w * (math.cos(w * x0) - math.cos(w * x1))
    return total


@pytest.mark.parametrize("period_s", [0.1, 0.01])
def test_period_is_accurate_and_does_not_drift(period_s: float) -> None:
    sink = Sink()
    sampler = _sampler(SyntheticMeter(), sink, period_s=period_s)
    sampler.start()
    time.sleep(1.0)
    sampler.stop()
    times = sink.table().column("time_s").to_pylist()
    thread_times = times[1:-1]  # without start()'s and stop()'s own readings
    expected = round(1.0 / period_s)
    assert abs(len(thread_times) - expected) <= max(1, 0.04 * expected)
    # Drift-free: reading k sits on the grid t0 + k x period_s, however many came before.
    t0 = times[0]
    offsets = sorted((t - t0) / period_s - round((t - t0) / period_s) for t in thread_times)
    assert abs(offsets[len(offsets) // 2]) < 0.25  # the median reading is on the grid
    lateness = [(t - t0) - k * period_s for k, t in enumerate(thread_times, start=1)]
    assert lateness[-1] - lateness[0] < 0.5 * period_s  # no accumulated delay


def test_a_late_thread_skips_slots_instead_of_bursting() -> None:
    def slow_once(n: int) -> Reading:
        if n == 3:
            time.sleep(0.055)  # more than five periods late
        return Reading(time_s=time.time(), power_w=1.0, energy_j=None)

    sink = Sink()
    sampler = _sampler(Scripted(slow_once), sink, period_s=0.01)
    sampler.start()
    time.sleep(0.2)
    sampler.stop()
    times = sink.table().column("time_s").to_pylist()
    slow_s = times[2]  # start() read once, the thread twice: the third reading was the slow one
    # One reading right away, then the next grid slot: a burst would catch up five missed slots.
    assert len([t for t in times if slow_s < t < slow_s + 0.01]) <= 2
    assert sampler.skipped_periods >= 4


def test_readings_carry_the_tag_in_force() -> None:
    sink = Sink()
    sampler = _sampler(SyntheticMeter(), sink, period_s=0.01)
    sampler.start()
    boundaries = []
    for tag in [(0, "idle"), (1, "train"), (1, "eval"), (1, "checkpoint"), (2, "train"), (2, "eval")]:
        r = sampler.begin(*tag)
        assert r is not None
        boundaries.append((r.time_s, tag))
        time.sleep(0.05)
    sampler.stop()
    table = sink.table()
    rows = zip(table.column("time_s").to_pylist(), table.column("epoch").to_pylist(), table.column("phase").to_pylist())
    checked = 0
    for t, epoch, phase in rows:
        in_force = [tag for start, tag in boundaries if start <= t]
        expected = in_force[-1] if in_force else (0, "idle")
        assert (epoch, phase) == expected
        checked += 1
    assert checked == table.num_rows > 25
    assert set(table.column("meter").to_pylist()) == {"synthetic"}
    assert set(table.column("run_id").to_pylist()) == {"run1"} and set(table.column("attempt").to_pylist()) == {2}


def test_stats_match_the_closed_form_integral() -> None:
    meter = SyntheticMeter(ripple_frac=0.1, ripple_period_s=0.5)
    sink = Sink()
    sampler = _sampler(meter, sink, period_s=0.01)
    sampler.start()
    sampler.begin(0, "idle")
    time.sleep(0.2)
    sampler.begin(1, "train")
    time.sleep(0.4)
    sampler.begin(1, "eval")
    time.sleep(0.2)
    sampler.begin(1, "checkpoint")
    time.sleep(0.05)
    sampler.stop()

    st = sampler.stats(1)
    assert st is not None
    exact_j = exact_energy_j(meter, st.start_s, st.end_s)
    assert st.counter_energy_j == pytest.approx(exact_j, rel=1e-9)
    assert st.energy_j() == st.counter_energy_j
    # The trapezoid only errs at the two load steps (half a step x one period each) and on the ripple.
    step_error_j = 0.5 * (250 - 50) * 0.012 + 0.5 * (250 - 180) * 0.012 + 0.5 * (180 - 80) * 0.012
    assert abs(st.trapz_energy_j - exact_j) < step_error_j + 0.002 * exact_j  # type: ignore[operator]
    # Samples: every reading from the train boundary to the checkpoint boundary, both included.
    times = sink.table().column("time_s").to_pylist()
    inside = [t for t in times if st.start_s <= t <= st.end_s]
    assert st.samples == len(inside) and st.start_s == inside[0] and st.end_s == inside[-1]
    powers = [p for t, p in zip(times, sink.table().column("power_w").to_pylist()) if st.start_s <= t <= st.end_s]
    assert st.mean_power_w == pytest.approx(sum(powers) / len(powers))
    # Phases on their own, and the idle baseline.
    train, evaluation = sampler.stats(1, ("train",)), sampler.stats(1, ("eval",))
    assert train is not None and evaluation is not None
    assert train.end_s == evaluation.start_s and train.start_s == st.start_s and evaluation.end_s == st.end_s
    assert train.samples + evaluation.samples == st.samples + 1  # the shared boundary reading
    assert train.counter_energy_j + evaluation.counter_energy_j == pytest.approx(st.counter_energy_j)  # type: ignore[operator]
    idle = sampler.stats(0, ("idle",))
    assert idle is not None and idle.counter_energy_j == pytest.approx(exact_energy_j(meter, idle.start_s, idle.end_s))
    assert sampler.stats(7) is None


def test_an_epoch_shorter_than_the_period_still_has_boundary_samples() -> None:
    meter = SyntheticMeter(ripple_frac=0.0)
    sampler = _sampler(meter, Sink(), period_s=0.1)
    sampler.start()
    sampler.begin(1, "train")
    time.sleep(0.01)
    sampler.begin(1, "eval")
    sampler.begin(1, "checkpoint")
    st = sampler.stats(1)
    sampler.stop()
    assert st is not None and st.samples >= 2
    assert 0.005 < st.end_s - st.start_s < 0.05
    assert st.counter_energy_j == pytest.approx(exact_energy_j(meter, st.start_s, st.end_s), rel=1e-9)


def test_stats_of_a_meter_without_counter_use_the_trapezoid() -> None:
    class Ramp:
        """Power rises linearly (1 W per second, from 100 W): the trapezoid is exact."""

        kind = "estimate"

        def __init__(self) -> None:
            self.t0_s = time.time()

        def read(self) -> Reading:
            t_s = time.time()
            return Reading(time_s=t_s, power_w=100.0 + (t_s - self.t0_s), energy_j=None)

    meter = Ramp()
    sampler = _sampler(meter, Sink(), period_s=0.01)
    sampler.start()
    sampler.begin(1, "train")
    time.sleep(0.2)
    sampler.begin(1, "checkpoint")
    sampler.stop()
    st = sampler.stats(1)
    assert st is not None and st.counter_energy_j is None
    a, b = st.start_s - meter.t0_s, st.end_s - meter.t0_s
    assert st.energy_j() == st.trapz_energy_j == pytest.approx(100 * (b - a) + (b * b - a * a) / 2, rel=1e-9)


def test_rows_are_flushed_every_flush_s_with_the_sample_schema() -> None:
    sink = Sink()
    sampler = _sampler(SyntheticMeter(), sink, period_s=0.01, flush_s=0.2)
    t0 = time.monotonic()
    sampler.start()
    time.sleep(1.1)
    sampler.stop()
    periodic = [t - t0 for t in sink.at_s[:-1]]  # the last batch comes from stop()
    assert len(periodic) == 5
    assert all(abs(t - 0.2 * (k + 1)) < 0.05 for k, t in enumerate(periodic))
    assert all(b.schema == SAMPLE_SCHEMA for b in sink.batches)
    assert sampler.rows_flushed == sum(b.num_rows for b in sink.batches)
    assert sink.table().column("time_s").to_pylist() == sorted(sink.table().column("time_s").to_pylist())


def test_transient_errors_are_counted_and_warned_about_once(capsys: pytest.CaptureFixture[str]) -> None:
    def flaky(n: int) -> Reading:
        if n % 2 == 0:
            raise MeterError("NVML energy_mj: Unknown Error")
        return Reading(time_s=time.time(), power_w=10.0, energy_j=None)

    sink = Sink()
    sampler = _sampler(Scripted(flaky), sink, period_s=0.01)
    sampler.start()
    time.sleep(0.2)
    sampler.stop()
    assert not sampler.lost
    assert len(sampler.errors) == 1
    assert sampler.errors[0].startswith("MeterError: NVML energy_mj: Unknown Error (x")
    assert sink.table().num_rows > 5
    assert capsys.readouterr().err.count("Unknown Error") == 1


def test_a_failing_sink_is_retried_and_loses_nothing() -> None:
    received: list[pa.RecordBatch] = []
    fail = {"left": 2}

    def sink(batch: pa.RecordBatch) -> None:
        if fail["left"]:
            fail["left"] -= 1
            raise OSError(28, "No space left on device")
        received.append(batch)

    sampler = Sampler(SyntheticMeter(), run_id="r", attempt=1, period_s=0.01, flush_s=0.05, sink=sink)
    sampler.start()
    time.sleep(0.3)
    sampler.stop()
    rows = sum(b.num_rows for b in received)
    assert rows == sampler.rows_flushed > 20
    times = [t for b in received for t in b.column("time_s").to_pylist()]
    assert times == sorted(times) and len(set(times)) == rows
    assert sampler.errors == ["sink OSError: [Errno 28] No space left on device (x2)"]


def test_thread_is_a_named_daemon_and_stop_is_idempotent() -> None:
    sink = Sink()
    sampler = Sampler(SyntheticMeter(), run_id="r", attempt=1, period_s=0.01, flush_s=5, sink=sink, name="eb-test")
    sampler.start()
    thread = next(t for t in threading.enumerate() if t.name == "eb-test")
    assert thread.daemon
    sampler.stop()
    sampler.stop()
    assert not thread.is_alive() and len(sink.batches) == 1
    unstarted = Sampler(SyntheticMeter(), run_id="r", attempt=1, period_s=0.01, flush_s=5, sink=sink)
    unstarted.stop()
    assert len(sink.batches) == 1


def test_begin_switches_the_synthetic_load() -> None:
    meter = SyntheticMeter(ripple_frac=0.0)
    sampler = _sampler(meter, Sink(), period_s=0.01)
    sampler.begin(1, "train")
    assert meter.phase == "train" and meter.read().power_w == 250.0


def test_sigkill_loses_at_most_the_flush_window(tmp_path: Path) -> None:
    period_s, flush_s = 0.01, 0.3
    run = RunPaths(tmp_path / "run")
    helper = Path(__file__).with_name("sigkill_helper.py")
    proc = subprocess.Popen([sys.executable, str(helper), str(run.dir), str(period_s), str(flush_s)],
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(1.5)
        kill_s = time.time()
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    parts = run.sample_parts(1)
    assert len(parts) >= 2  # ~1.5 s / 0.3 s = 5 on an idle machine
    table = pa.concat_tables(read_shard(p, SAMPLE_SCHEMA) for p in parts)
    times = table.column("time_s").to_pylist()
    assert times == sorted(times)
    assert kill_s - times[-1] < flush_s + 0.15
    assert set(table.column("run_id").to_pylist()) == {"killed"}


def test_pyarrow_first_conversion_is_paid_in_start_not_in_a_flush(monkeypatch: pytest.MonkeyPatch) -> None:
    # pyarrow's first conversion from Python lists imports pandas when installed (~0.5 s holding
    # the interpreter): start() pays it on the caller's thread, before training, not in epoch 1's flush.
    calls: list[tuple[str, int]] = []
    real = Sampler._batch

    def spy(self: Sampler, cols: dict[str, list[Any]]) -> pa.RecordBatch:
        calls.append((threading.current_thread().name, len(cols["time_s"])))
        return real(self, cols)

    monkeypatch.setattr(Sampler, "_batch", spy)
    sampler = _sampler(SyntheticMeter(), Sink(), period_s=1.0)
    sampler.start()
    assert calls == [(threading.current_thread().name, 0)]
    sampler.stop()
    assert len(calls) == 2 and calls[1][1] > 0
