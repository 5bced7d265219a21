"""One live worker per run, with two real workers (``python -m energybench.launch``) on one run directory.

The lease primitives are tests/worker/test_lease.py. Here: a second worker on a
live run waits its bounded time and leaves with HELD, having written nothing;
a stale first worker (frozen with SIGSTOP past its lease's expiry) is taken
over by a second, loses its lease when it wakes and exits LOST without
writing anything more, and the collected dataset has each epoch once. Short
lease timings (``EB_LEASE_*``) keep each test to seconds.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from energybench.collect import collect
from energybench.paths import ResultsLayout, RunPaths, read_json
from energybench.worker import lease

from ..conftest import wait_for
from ..faults.ledger import lost_beyond_flush, record

PERIOD_S, FLUSH_S = 0.05, 0.5  # the sampler's, as in the fault suite
WORKER_START_S = 120  # a cold interpreter importing torch on a loaded 2-core machine


@pytest.fixture(scope="module")
def pamap2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from energybench.worker.data import ensure_data

    path = tmp_path_factory.mktemp("lease-data") / "pamap2"
    ensure_data("pamap2", {"path": str(path), "generate": True})
    return path


def _planned(tmp: Path, data: Path, *, max_epochs: int) -> tuple[ResultsLayout, RunPaths]:
    """One small PAMAP2 run laid out in a results directory (as ``submit`` would), not started."""
    from energybench.submit import prepare, write_layout

    cfg = {
        "name": "lease", "grid": {"batch_sizes": [64], "learning_rates": [0.001]},
        "paradigms": ["pamap2-baseline"], "hardware": ["cpu"],
        "early_stopping": {"threshold": 0.99, "patience_epochs": 50, "max_epochs": max_epochs},
        "training": {"device": "cpu", "threads": 1},
        "data": {"pamap2": {"path": str(data), "max_windows": 200}},
        "meter": {"kind": "synthetic", "period_s": PERIOD_S, "flush_s": FLUSH_S, "idle_s": 0},
    }
    config = tmp / "lease.yaml"
    config.write_text(yaml.safe_dump(cfg))
    prepared = prepare(config, tmp / "results", "local")
    write_layout(prepared)
    return prepared.layout, prepared.layout.run(prepared.specs[0].run_id)


class Worker:
    """One worker process on ``run``, its output in ``log`` (outside the run directory)."""

    def __init__(self, run: RunPaths, log: Path, **env: str) -> None:
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "energybench.launch", str(run.dir)],
            env={**os.environ, "OMP_NUM_THREADS": "1", **env}, stdout=log.open("wb"), stderr=subprocess.STDOUT,
            start_new_session=True)
        self.pid = self.proc.pid

    def alive_until(self, what: str, predicate: Callable[[], Any], timeout_s: float = WORKER_START_S,
                    poll_s: float = 0.05) -> Any:
        """Wait for ``predicate``, failing at once (with the log) if this worker ends first."""

        def check() -> Any:
            value = predicate()
            if not value and self.proc.poll() is not None:
                pytest.fail(f"worker {self.pid} exited {self.proc.returncode} before {what}\n{self.text()[-3000:]}")
            return value

        return wait_for(what, check, timeout_s, poll_s, diagnose=self.text)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, timeout_s: float) -> int:
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            pytest.fail(f"worker {self.pid} still running after {timeout_s:.0f} s\n{self.text()[-3000:]}")

    def freeze(self, run: RunPaths) -> float:
        """SIGSTOP it between two writes (no temporary of an atomic write open); the time it froze."""
        for _ in range(200):
            os.killpg(self.pid, signal.SIGSTOP)  # its whole process group, as a frozen node would be
            _wait_stopped(self.pid)
            if not _in_flight(run):
                return time.time()
            self.thaw()  # frozen mid-write: let the write land, then again
            time.sleep(0.01)
        pytest.fail("could not freeze the worker between two writes")

    def thaw(self) -> None:
        os.killpg(self.pid, signal.SIGCONT)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.pid, signal.SIGKILL)  # frozen or not
            self.proc.wait(30)


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    """Workers the test starts; any still running at the end are killed."""
    started: list[Worker] = []
    yield started
    for w in started:
        w.kill()


def _wait_stopped(pid: int) -> None:
    end = time.monotonic() + 10
    while time.monotonic() < end:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "T":
                return
        time.sleep(0.002)
    pytest.fail(f"worker {pid} did not stop")


def _in_flight(run: RunPaths) -> list[Path]:
    """Temporaries of atomic writes (and lease drafts) now in the run directory."""
    return [p for p in run.dir.rglob(".*") if p.is_file()]


def _files(run: RunPaths) -> dict[str, tuple[int, int, str]]:
    """Every file of the run directory, the lease's included: (size, mtime_ns, sha256)."""
    out = {}
    for p in sorted(run.dir.rglob("*")):
        if p.is_file() and p.name != "worker.log":
            st = p.stat()
            out[str(p.relative_to(run.dir))] = (st.st_size, st.st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
    return out


def _attempt_files(run: RunPaths, attempt: int) -> dict[str, tuple[int, int, str]]:
    tag = f"-a{attempt:03d}"
    return {k: v for k, v in _files(run).items() if tag in k}


def _epoch_rows(run: RunPaths, attempt: int) -> list[dict]:
    """The rows of one attempt's epoch shard, read in one go (the worker replaces the file as it goes)."""
    try:
        data = run.epochs(attempt).read_bytes()
    except FileNotFoundError:
        return []
    return pq.read_table(pa.BufferReader(data)).to_pylist()


def _heartbeat_epoch(run: RunPaths) -> int:
    """The last epoch the worker checkpointed (its heartbeat follows the checkpoint)."""
    try:
        return int(read_json(run.heartbeat).get("epoch") or 0)
    except (OSError, ValueError):
        return 0


def _attempt_started(run: RunPaths) -> int:
    try:
        return int(read_json(run.started)["attempt"]) if run.started.exists() else 0
    except (OSError, ValueError, KeyError):
        return 0


def test_a_second_worker_on_a_live_run_exits_held_and_writes_nothing(pamap2: Path, tmp_path: Path,
                                                                     workers: list[Worker]) -> None:
    _, run = _planned(tmp_path, pamap2, max_epochs=3)
    fast = {"EB_LEASE_PERIOD_S": "1"}  # renewed every second, expires after 4 s unchanged
    first = Worker(run, tmp_path / "first.log", **fast)
    workers.append(first)
    first.alive_until("the first worker's lease", lambda: lease.generations(run) == [1])
    second = Worker(run, tmp_path / "second.log", **fast, EB_LEASE_WAIT_S="3")  # starts up during epoch 1
    workers.append(second)
    first.alive_until("the first worker's first epoch", lambda: _epoch_rows(run, 1))
    # Frozen only so that the directory holds still while the second worker is there: the lease it
    # watches stays younger than its 4 s expiry (the second gives up after 3 s).
    first.freeze(run)
    assert second.proc.poll() is None, f"the second worker ended before the first froze\n{second.text()}"
    before = _files(run)
    rc = second.wait(WORKER_START_S)
    after = _files(run)
    first.thaw()

    log = second.text()
    assert rc == lease.HELD, log
    last = log.strip().splitlines()[-1]
    assert last.startswith(f"energybench worker: run {run.dir.name} is held by a live worker (host "), log
    assert f"pid {first.pid}" in last and "EB_LEASE_WAIT_S=3" in last and last.endswith("writes nothing"), last
    assert "Traceback" not in log, log
    waited_s = float(re.search(r"in the ([\d.]+) s this worker waited", last).group(1))  # type: ignore[union-attr]
    assert 3 <= waited_s < 4
    assert after == before  # not a sample, an epoch, a marker or a lease file changed
    assert lease.generations(run) == [1]

    assert first.wait(WORKER_START_S) == 0, first.text()  # woke past its trust: renewed, nobody took over
    assert "lost its lease" not in first.text()
    assert lease.generations(run) == [1] and lease.parse(lease.read_generation(run, 1))["released"] is True
    assert (read_json(run.started)["pid"], read_json(run.done)["attempt"]) == (first.pid, 1)
    assert [p.name for p in run.epoch_shards()] == ["epochs-a001.parquet"]
    assert run.sample_files() and all("-a001-" in p.name for p in run.sample_files())
    record("two workers on one run: the second finds it live", affected=1, recovered=1, lost_beyond_flush=0,
           detail=f"second exits HELD ({lease.HELD}) after waiting {waited_s:.1f} s, "
                  f"{len(before)} files unchanged; the first completes")


def test_a_stale_worker_loses_its_lease_to_a_second_and_writes_nothing_more(pamap2: Path, tmp_path: Path,
                                                                             workers: list[Worker]) -> None:
    layout, run = _planned(tmp_path, pamap2, max_epochs=3)
    # Both start at once and wait as long as it takes; the one that creates generation 1 is "first".
    fast = {"EB_LEASE_PERIOD_S": "0.5", "EB_LEASE_EXPIRE_S": "3", "EB_LEASE_WAIT_S": "120"}  # trust 2.5 s
    workers += [Worker(run, tmp_path / "a.log", **fast), Worker(run, tmp_path / "b.log", **fast)]
    wait_for("a worker's lease", lambda: lease.generations(run) == [1], WORKER_START_S, 0.02,
             diagnose=lambda: "\n".join(w.text() for w in workers))
    owner = lease.parse(lease.read_generation(run, 1))["pid"]
    (first,), (second,) = [w for w in workers if w.pid == owner], [w for w in workers if w.pid != owner]
    first.alive_until("the first worker's first checkpointed epoch and flush",
                      lambda: _heartbeat_epoch(run) >= 1 and run.sample_parts(1), poll_s=0.02)
    assert lease.generations(run) == [1] and second.proc.poll() is None, second.text()
    stopped_s = first.freeze(run)  # a node SLURM declared dead, its worker alive but frozen
    frozen = _attempt_files(run, 1)
    renewed_s = run.lease(1).stat().st_mtime  # the first's last renewal
    try:
        second.alive_until("the second worker's attempt", lambda: _attempt_started(run) == 2)
        took_over_s = time.time() - stopped_s
    finally:
        first.thaw()  # it wakes beside the attempt that took over
    woke = time.monotonic()
    assert first.wait(60) == lease.LOST, first.text()
    lost_after_s = time.monotonic() - woke
    last = first.text().strip().splitlines()[-1]
    assert "lost its lease" in last and f"pid {second.pid}" in last and "without writing more" in last, last
    assert _attempt_files(run, 1) == frozen  # nothing of attempt 1 written after the freeze
    assert second.wait(WORKER_START_S) == 0, second.text()

    gen2 = lease.parse(lease.read_generation(run, 2))
    assert gen2["acquired_at_s"] - renewed_s >= 3.0 - 0.01  # the expiry after the last renewal
    assert lease.generations(run) == [1, 2]
    assert (gen2["took_over"]["pid"], gen2["attempt"], gen2["released"]) == (first.pid, 2, True)
    assert lease.parse(lease.read_generation(run, 1)).get("released") is not True  # the loser released nothing
    assert (read_json(run.started)["pid"], read_json(run.done)["attempt"]) == (second.pid, 2)
    assert not run.failed.exists()
    rec = read_json(run.record)
    assert (rec["attempt"], rec["epochs"]) == (2, 3) and rec["resumed_from_epoch"] >= 1
    samples = [r for p in run.sample_files() for r in pq.read_table(p).to_pylist()]
    first_times = [r["time_s"] for r in samples if r["attempt"] == 1]
    assert max(first_times) < stopped_s < min(r["time_s"] for r in samples if r["attempt"] == 2)
    assert all(r["start_s"] + r["duration_s"] < stopped_s for r in _epoch_rows(run, 1))

    collect(layout.root, echo=lambda _: None, warn=lambda _: None, workers=1)  # `energybench collect`
    epochs = sorted(e["epoch"] for e in pq.read_table(layout.dataset_dir / "epochs.parquet").to_pylist()
                    if e["run_id"] == run.dir.name)
    assert epochs == [1, 2, 3]  # each epoch once
    lost, unflushed_s = lost_beyond_flush(first_times, stopped_s, FLUSH_S, PERIOD_S)
    assert lost == 0, unflushed_s
    record("two workers on one run: a stale one (SIGSTOP past the lease's expiry)", affected=1, recovered=1,
           lost_beyond_flush=lost,
           detail=f"taken over {took_over_s:.1f} s after the freeze; the stale one exits LOST ({lease.LOST}) "
                  f"{lost_after_s:.1f} s after SIGCONT, 0 writes after the freeze; epochs 1-3 once")


# --------------------------------------------------- the wiring, without a second process
def test_a_failure_is_recorded_after_the_failed_writes_frames_are_gone(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A torch.save that hit a full disk keeps its unlinked temporary open from its frame; the worker
    records ``failed.json`` only once the exception (and that frame) is gone, so the space is free."""
    import weakref

    from energybench.errors import DiskFullError
    from energybench.worker import entry, markers

    run = ResultsLayout(tmp_path / "res").run("0123456789abcdef")
    run.dir.mkdir(parents=True)
    run.spec.write_text("{}")

    class OpenFile:  # stands for the writer object a failed torch.save leaves in its frame
        pass

    refs: list[weakref.ref[OpenFile]] = []

    def execute(*args: Any, **kwargs: Any) -> None:
        handle = OpenFile()
        refs.append(weakref.ref(handle))
        raise DiskFullError(f"No space left on device while writing {run.checkpoint}")

    seen: list[bool] = []
    mark_failed = markers.mark_failed

    def recording(*args: Any, **kwargs: Any) -> None:
        seen.append(refs[0]() is None)
        mark_failed(*args, **kwargs)

    monkeypatch.setattr(entry, "execute", execute)
    monkeypatch.setattr(markers, "mark_failed", recording)
    monkeypatch.setenv("EB_LEASE_PERIOD_S", "1")
    assert entry.main(run.dir) == 1
    assert seen == [True]  # the failing frame was released before failed.json was written
    assert read_json(run.failed)["reason"].startswith("No space left on device while writing ")
    assert lease.parse(lease.read_generation(run, 1))["released"] is True


def test_the_local_executor_marks_a_lost_worker_only_when_nobody_took_the_run_over(tmp_path: Path) -> None:
    from energybench.executors.local import _record_exit

    run = ResultsLayout(tmp_path / "res").run("0123456789abcdef")
    run.dir.mkdir(parents=True)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    here = lease._host_id()
    assert lease._create(run, 1, {"token": "a", "pid": gone.pid, "host_id": here, "host": "here"})
    _record_exit(run, lease.HELD, 0.0)
    assert not run.failed.exists()  # HELD: another worker holds the run, this one wrote nothing
    _record_exit(run, lease.LOST, 0.0)  # its own lease lapsed (not renewed in time), nobody holds the run
    assert "its lease could not be renewed" in read_json(run.failed)["reason"]
    run.failed.unlink()
    assert lease._create(run, 2, {"token": "b", "pid": os.getpid(), "host_id": here, "host": "here"})
    _record_exit(run, lease.LOST, 0.0)  # taken over by a live worker: the run is the taker's
    assert not run.failed.exists()
