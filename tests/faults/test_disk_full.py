"""The disk fills up under a run: results on a size-limited tmpfs (root only).

Expected: the write that hits the full disk fails with one line naming the
file ("No space left on device while writing ..."), the file it replaces and
every earlier part stay readable, the sampler keeps what it could not write
and writes it once there is room; a run whose checkpoint or epoch shard cannot
be written is FAILED with that line, and resumes after space is freed.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from energybench.errors import DiskFullError
from energybench.meter.sampler import Sampler
from energybench.meter.synthetic import SyntheticMeter
from energybench.paths import RunPaths, write_json
from energybench.schema import SAMPLE_SCHEMA
from energybench.shards import SampleShardWriter, read_shard

from .conftest import (FLUSH_S, PERIOD_S, assert_each_epoch_once, dataset, eb, eb_args, eb_ok, only_run,
                       tiny_config, wait_for, worker_log, write_yaml)
from .ledger import lost_beyond_flush, record

MARGIN_B = 64 * 1024  # left free by the hog: room for markers and parts, not for a 1.7-MB checkpoint


def _samples(n: int, t0: float) -> pa.Table:
    return pa.Table.from_pylist([{"run_id": "r", "attempt": 1, "time_s": t0 + i * 0.01, "epoch": 1,
                                  "phase": "train", "power_w": 100.0 + i, "energy_j": None, "meter": "synthetic",
                                  "gpu_util_pct": None, "mem_used_mib": None, "temperature_c": None,
                                  "sm_clock_mhz": None} for i in range(n)], schema=SAMPLE_SCHEMA)


def _fill(path: Path, leave_b: int = 0) -> Path:
    """Take all but ``leave_b`` bytes of the filesystem holding ``path``."""
    st = os.statvfs(path)
    ballast = path / "ballast"
    with open(ballast, "ab") as fh:
        room = st.f_bavail * st.f_frsize - leave_b
        if room > 0:
            try:
                os.posix_fallocate(fh.fileno(), os.fstat(fh.fileno()).st_size, room)
            except OSError:
                pass
    return ballast


def test_a_shard_written_to_a_full_disk_fails_in_one_line_and_keeps_earlier_parts(
        tmpfs: Callable[[Path, str], Path], tmp_path: Path) -> None:
    root = tmpfs(tmp_path / "small", "256k")
    run = RunPaths(root / "run")
    writer = SampleShardWriter(run, attempt=1)
    first = writer.write(_samples(50, 1000.0))
    write_json(run.heartbeat, {"epoch": 1})
    _fill(root)
    with pytest.raises(DiskFullError) as exc:
        for i in range(50):  # tmpfs may still hold a partial page: write until it is really full
            writer.write(_samples(2000, 2000.0 + i * 100))
    msg = str(exc.value)
    assert msg.startswith("No space left on device while writing ") and "\n" not in msg
    assert str(run.samples_dir) in msg and msg.endswith(".parquet")
    with pytest.raises(DiskFullError, match=r"while writing .*heartbeat\.json"):
        write_json(run.heartbeat, {"epoch": 2, "pad": "x" * 100_000})
    assert json.loads(run.heartbeat.read_text()) == {"epoch": 1}  # the previous file is intact
    assert not [p for p in run.dir.rglob("*.tmp")]  # no half-written temporaries left
    assert first is not None and read_shard(first, SAMPLE_SCHEMA).num_rows == 50
    for part in run.sample_parts(1):
        read_shard(part, SAMPLE_SCHEMA)  # every part on disk is whole


def test_the_sampler_keeps_what_a_full_disk_refused_and_writes_it_later(
        tmpfs: Callable[[Path, str], Path], tmp_path: Path) -> None:
    root = tmpfs(tmp_path / "small", "256k")
    run = RunPaths(root / "run")
    writer = SampleShardWriter(run, attempt=1)
    sampler = Sampler(SyntheticMeter(), run_id="r", attempt=1, period_s=0.01, flush_s=0.1, sink=writer.write)
    sampler.start()
    try:
        wait_for("a first part", lambda: run.sample_parts(1), 10)
        ballast = _fill(root)
        wait_for("a refused flush", lambda: any("DiskFullError" in e for e in sampler.errors), 10)
        assert sampler._thread is not None and sampler._thread.is_alive()  # sampling goes on
        ballast.unlink()
        time.sleep(0.5)  # the next flushes write what was refused
    finally:
        sampler.stop()
    errors = sampler.errors
    assert len(errors) == 1 and errors[0].startswith("sink DiskFullError: No space left on device while writing ")
    rows = pa.concat_tables(read_shard(p, SAMPLE_SCHEMA) for p in run.sample_parts(1))
    times = rows.column("time_s").to_pylist()
    assert sampler.rows_flushed == rows.num_rows and len(set(times)) == len(times)
    assert max(b - a for a, b in zip(sorted(times), sorted(times)[1:])) < 0.5  # no hole where the disk was full


class _Hog(threading.Thread):
    """Another job filling the disk: takes every byte but ``MARGIN_B`` as soon as it is free."""

    def __init__(self, root: Path) -> None:
        super().__init__(name="disk-hog", daemon=True)
        self.root = root
        self.halt = threading.Event()
        self.ballast = root / "ballast"

    def run(self) -> None:
        while not self.halt.is_set():
            _fill(self.root, MARGIN_B)
            self.halt.wait(0.005)


@pytest.mark.slow
def test_a_run_on_a_full_disk_fails_with_one_line_and_resumes_after_space_is_freed(
        tmpfs: Callable[[Path, str], Path], pamap2_dir: Path, tmp_path: Path) -> None:
    root = tmpfs(tmp_path / "disk", "8m")
    config = write_yaml(tmp_path / "full.yaml", tiny_config(pamap2_dir))
    results = root / "res"
    hog = _Hog(root)
    with open(tmp_path / "submit.log", "wb") as log:
        submit = subprocess.Popen(eb_args("submit", str(config), "--results", str(results)),
                                  stdout=log, stderr=subprocess.STDOUT)
        try:
            run = wait_for("the run directory", lambda: (results / "runs").is_dir() and only_run(results), 60)
            wait_for("epoch 1", lambda: (run / "epochs-a001.parquet").exists() and (run / "checkpoint.pt").exists()
                     and (run / "heartbeat.json").exists() and json.loads(
                         (run / "heartbeat.json").read_text()).get("epoch"), 120, diagnose=lambda: worker_log(run))
            hog.start()
            assert submit.wait(timeout=120) == 1, (tmp_path / "submit.log").read_text()
        finally:
            hog.halt.set()
            if submit.poll() is None:
                submit.kill()
                submit.wait()
    hog.join(5)
    failed = json.loads((run / "failed.json").read_text())
    reason = failed["reason"]
    assert reason.startswith("No space left on device while writing ") and str(run) in reason, reason
    r = eb("status", str(results), "--json")
    (state,) = json.loads(r.stdout)
    assert (state["state"], state["reason"]) == ("FAILED", reason)
    done = int(json.loads((run / "heartbeat.json").read_text()).get("epoch") or 0)

    hog.ballast.unlink()  # space again: what was written before the disk filled is all there
    out = eb_ok("collect", str(results))
    assert "0 files quarantined" in out, out
    first = dataset(results)
    lost, unflushed_s = lost_beyond_flush([s["time_s"] for s in first["samples"]], failed["time_s"], FLUSH_S,
                                          PERIOD_S)
    assert lost == 0, unflushed_s
    # epochs up to the last checkpoint are there (an epoch whose checkpoint failed is trained again)
    assert set(range(1, done + 1)) <= {e["epoch"] for e in first["epochs"]}

    eb_ok("submit", str(config), "--results", str(results))  # resumes from the last checkpoint it wrote
    assert json.loads((run / "run.json").read_text())["resumed_from_epoch"] == done
    eb_ok("collect", str(results))
    final = dataset(results)
    assert_each_epoch_once(final)
    assert (final["runs"][0]["status"], final["runs"][0]["attempts"]) == ("COMPLETED", 2)
    record("disk full while writing (tmpfs 8 MB)", affected=1, recovered=1, lost_beyond_flush=lost,
           detail=f"failed: {reason.split(' while writing ')[0]} ... {Path(reason.rsplit(' ', 1)[-1]).name}; "
                  f"last sample {unflushed_s:.2f} s before the failure")
