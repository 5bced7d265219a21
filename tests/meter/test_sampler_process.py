"""The process sampler: the thread sampler's rows and statistics, read in a child process."""

from __future__ import annotations

import os
import signal
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from energybench.errors import MeterError
from energybench.meter.base import unix_time_s
from energybench.meter.process import KEPT_OUT, ProcessSampler
from energybench.meter.sampler import Sampler
from energybench.meter.samplers import ThreadSampler, open_sampler
from energybench.meter.synthetic import SyntheticMeter
from energybench.schema import SAMPLE_SCHEMA

SYNTHETIC = "energybench.meter.synthetic:SyntheticMeter"


class Sink:
    def __init__(self) -> None:
        self.batches: list[pa.RecordBatch] = []

    def __call__(self, batch: pa.RecordBatch) -> None:
        self.batches.append(batch)

    def rows(self) -> list[dict[str, Any]]:
        return pa.Table.from_batches(self.batches, schema=SAMPLE_SCHEMA).to_pylist()


def _process(sink: Sink, period_s: float = 0.01, flush_s: float = 10.0, **options: Any) -> Any:
    return open_sampler("process", "synthetic", run_id="run1", attempt=2, period_s=period_s, flush_s=flush_s,
                        sink=sink, meter_factory=SYNTHETIC, meter_options=options)


def _tags(rows: list[dict[str, Any]]) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for r in rows:
        if not out or out[-1] != (r["epoch"], r["phase"]):
            out.append((r["epoch"], r["phase"]))
    return out


SEQUENCE = [((0, "idle"), 0.05), ((1, "train"), 0.2), ((1, "eval"), 0.1), ((1, "checkpoint"), 0.02)]


def _run_sequence(sampler: Any) -> dict[str, Any]:
    sampler.start()
    for tag, seconds in SEQUENCE:
        sampler.begin(*tag)
        time.sleep(seconds)
    out = {"epoch": sampler.stats(1), "train": sampler.stats(1, ("train",)), "eval": sampler.stats(1, ("eval",))}
    sampler.stop()
    out["after_stop"] = sampler.stats(1)
    return out


def test_the_same_rows_and_statistics_as_the_thread_sampler() -> None:
    thread_sink, process_sink = Sink(), Sink()
    thread = _run_sequence(Sampler(SyntheticMeter(ripple_frac=0.0), run_id="run1", attempt=2, period_s=0.01,
                                   flush_s=10.0, sink=thread_sink))
    proc = _process(process_sink, ripple_frac=0.0)
    got = _run_sequence(proc)
    assert proc.errors == [] and proc.meter_kind == "synthetic" and proc.meter_info["synthetic"] is True
    rows_t, rows_p = thread_sink.rows(), process_sink.rows()
    assert all(b.schema == SAMPLE_SCHEMA for b in process_sink.batches)
    assert proc.rows_flushed == len(rows_p) and abs(len(rows_p) - len(rows_t)) <= 6
    assert _tags(rows_p) == _tags(rows_t) == [tag for tag, _ in SEQUENCE]
    assert {(r["run_id"], r["attempt"], r["meter"]) for r in rows_p} == {("run1", 2, "synthetic")}
    times = [r["time_s"] for r in rows_p]
    assert times == sorted(times)
    for stats in (thread, got):
        for name, load_w in (("train", 250.0), ("eval", 180.0)):  # no ripple: the counter is load x time
            st = stats[name]
            assert st.counter_energy_j == pytest.approx(load_w * (st.end_s - st.start_s), rel=1e-3)
        assert stats["epoch"].samples == stats["train"].samples + stats["eval"].samples - 1
    for key in ("epoch", "train", "eval"):
        a, b = thread[key], got[key]
        assert b.energy_j() == pytest.approx(a.energy_j(), rel=0.1)
        assert abs(b.samples - a.samples) <= 4 and set(b.domains) == set(a.domains) == {"gpu"}
    assert got["after_stop"] == got["epoch"]  # stats after stop come from the child's final sums


def test_boundary_readings_are_taken_at_phase_changes() -> None:
    sink = Sink()
    sampler = _process(sink, period_s=0.2)
    sampler.start()
    sent: list[tuple[float, tuple[int, str]]] = []
    for tag in [(1, "train"), (1, "eval"), (1, "checkpoint"), (2, "train"), (2, "eval")]:
        time.sleep(0.03)
        sent.append((unix_time_s(), tag))
        assert sampler.begin(*tag) is None  # no reply awaited
    sampler.stop()
    rows = sink.rows()
    delays = []
    for at_s, tag in sent:
        first = next(r for r in rows if (r["epoch"], r["phase"]) == tag)
        delays.append(first["time_s"] - at_s)
    assert all(d >= 0 for d in delays), delays
    assert statistics.median(delays) < 0.005 and max(delays) < 0.025, delays  # not the next 200-ms tick


def _max_gap_while_busy(sampler: Any, sink: Sink, busy_s: float) -> float:
    sampler.start()
    sampler.begin(1, "train")
    time.sleep(0.05)
    old = sys.getswitchinterval()
    sys.setswitchinterval(0.2)  # the interpreter changes hands at most every 200 ms
    try:
        t0 = unix_time_s()
        end = time.perf_counter() + busy_s
        x = 0
        while time.perf_counter() < end:  # pure Python: never releases the GIL on its own
            x += 1
        t1 = unix_time_s()
    finally:
        sys.setswitchinterval(old)
    sampler.stop()
    times = [r["time_s"] for r in sink.rows() if t0 - 0.05 <= r["time_s"] <= t1]
    return max(b - a for a, b in zip(times, times[1:]))


def test_a_gil_holding_loop_does_not_delay_the_child() -> None:
    sink = Sink()
    gap_process = _max_gap_while_busy(_process(sink), sink, 0.4)
    thread_sink = Sink()
    gap_thread = _max_gap_while_busy(Sampler(SyntheticMeter(), run_id="r", attempt=1, period_s=0.01, flush_s=10.0,
                                             sink=thread_sink), thread_sink, 0.4)
    assert gap_thread > 0.1  # the loop held the interpreter: the thread waited for it
    assert gap_process < 0.05, gap_process  # 10-ms ticks went on in the child


def test_a_killed_child_is_one_error_and_stop_returns_promptly() -> None:
    sink = Sink()
    sampler = _process(sink, flush_s=0.1)
    sampler.start()
    sampler.begin(1, "train")
    time.sleep(0.25)
    os.kill(sampler.child_pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while not sampler.errors and time.monotonic() < deadline:
        time.sleep(0.01)
    sampler.begin(1, "eval")  # no exception, no hang
    assert sampler.stats(1) is None
    t0 = time.monotonic()
    sampler.stop()
    assert time.monotonic() - t0 < 1.0
    assert len(sampler.errors) == 1 and "SIGKILL" in sampler.errors[0] and "\n" not in sampler.errors[0]
    assert sampler.rows_flushed > 10  # what was flushed before the kill reached the sink


def test_a_meter_that_cannot_open_raises_one_line_in_start() -> None:
    sampler = _process(Sink(), phase="nope")  # SyntheticMeter(phase="nope") raises ValueError
    with pytest.raises(MeterError) as info:
        sampler.start()
    assert str(info.value).startswith("ValueError: unknown load 'nope'") and "\n" not in str(info.value)
    t0 = time.monotonic()
    sampler.stop()
    assert time.monotonic() - t0 < 1.0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-process CPU clocks are Linux's")
def test_the_estimate_meter_counts_the_training_process_not_the_child() -> None:
    sampler = open_sampler("process", "estimate", run_id="r", attempt=1, period_s=0.02, flush_s=10.0, sink=Sink(),
                           log_meter_open=False)
    sampler.start()
    assert sampler.meter_kind == "estimate" and str(os.getpid()) in sampler.meter_info["covers"]
    sampler.begin(1, "train")
    end = time.perf_counter() + 0.3
    while time.perf_counter() < end:  # this process busy: ~one core
        pass
    sampler.begin(1, "eval")
    time.sleep(0.3)  # this process idle
    sampler.begin(1, "checkpoint")
    train, idle = sampler.stats(1, ("train",)), sampler.stats(1, ("eval",))
    sampler.stop()
    assert train is not None and idle is not None
    assert train.mean_power_w > 5 * max(idle.mean_power_w, 0.01)  # type: ignore[operator]


def test_open_sampler_modes() -> None:
    sink = Sink()
    thread = open_sampler("thread", "synthetic", run_id="r", attempt=1, period_s=0.01, flush_s=10.0, sink=sink)
    assert isinstance(thread, ThreadSampler)
    thread.stop()  # before start: nothing happens
    thread = open_sampler("thread", "synthetic", run_id="r", attempt=1, period_s=0.01, flush_s=10.0, sink=sink,
                          log=lambda _line: None)
    with thread:
        assert thread.meter_kind == "synthetic" and thread.meter_info["kind"] == "synthetic"
        assert thread.begin(1, "train") is not None
        time.sleep(0.03)
        thread.begin(1, "checkpoint")
        assert thread.stats(1, ("train",)) is not None
    assert thread.rows_flushed == len(sink.rows()) > 2 and thread.errors == []
    assert isinstance(open_sampler("process", run_id="r", attempt=1, period_s=1, flush_s=1, sink=sink), ProcessSampler)
    with pytest.raises(ValueError, match="sampler mode 'fork'"):
        open_sampler("fork", run_id="r", attempt=1, period_s=1, flush_s=1, sink=sink)


def test_the_child_imports_neither_torch_nor_pandas() -> None:
    if not Path("/proc/self/maps").exists():
        pytest.skip("needs /proc")
    sampler = _process(Sink())
    sampler.start()
    try:
        maps = Path(f"/proc/{sampler.child_pid}/maps").read_text()
    finally:
        sampler.stop()
    assert "libtorch" not in maps and "pandas" not in maps and "pyarrow" in maps
    assert {"torch", "pandas"} <= set(KEPT_OUT)


def test_fast_flushes_and_a_failing_sink_lose_nothing() -> None:
    received: list[pa.RecordBatch] = []
    fail = {"left": 2}

    def sink(batch: pa.RecordBatch) -> None:
        if fail["left"]:
            fail["left"] -= 1
            raise OSError(28, "No space left on device")
        received.append(batch)

    sampler = open_sampler("process", "synthetic", run_id="r", attempt=1, period_s=0.001, flush_s=0.002, sink=sink,
                           meter_factory=SYNTHETIC)
    sampler.start()  # a flush may follow the ready message at once
    time.sleep(0.2)
    sampler.stop()
    times = [t for b in received for t in b.column("time_s").to_pylist()]
    assert len(times) == sampler.rows_flushed > 50
    assert times == sorted(times) and len(set(times)) == len(times)
    assert sampler.errors == ["sink OSError: [Errno 28] No space left on device (x2)"]
