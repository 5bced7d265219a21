"""One live worker per run (energybench/worker/lease.py): the lease primitives, then two real workers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from energybench.errors import EnergybenchError
from energybench.paths import ResultsLayout, RunPaths
from energybench.worker import lease
from energybench.worker.lease import LeaseHeld, LeaseLost, LeaseSettings

from ..conftest import wait_for

FAST = LeaseSettings(period_s=1.0, expire_s=4.0, margin_s=1.0, wait_s=10.0, poll_s=0.5)


class FakeClock:
    """The lease's elapsed-time clock, advanced by hand (a waiter's sleep advances it)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now_s = 1000.0
        monkeypatch.setattr(lease, "clock", lambda: self.now_s)

    def sleep(self, dt_s: float) -> None:
        self.now_s += dt_s


@pytest.fixture
def run(tmp_path: Path) -> RunPaths:
    r = ResultsLayout(tmp_path / "res").run("0123456789abcdef")
    r.dir.mkdir(parents=True)
    return r


# ----------------------------------------------------------------- primitives
def test_a_free_run_is_acquired_at_once_as_generation_one(run: RunPaths) -> None:
    held = lease.acquire(run, FAST)
    assert (held.generation, held.waited_s, held.contended) == (1, 0.0, False)
    assert lease.generations(run) == [1]
    on_disk = lease.parse(lease.read_generation(run, 1))
    assert (on_disk["token"], on_disk["pid"]) == (held.owner["token"], os.getpid())
    held.check()  # may write
    assert [p.name for p in run.lease_dir.iterdir()] == ["000001.json"]  # no draft left beside it


def test_renewal_changes_the_content_and_records_the_attempt(run: RunPaths) -> None:
    held = lease.acquire(run, FAST)
    before = lease.read_generation(run, 1)
    held.renew(attempt=3)
    after = lease.parse(lease.read_generation(run, 1))
    assert lease.read_generation(run, 1) != before
    assert (after["seq"], after["attempt"]) == (1, 3)


def test_the_renewal_thread_keeps_rewriting_the_lease(run: RunPaths) -> None:
    held = lease.acquire(run, LeaseSettings(period_s=0.05, expire_s=0.5, margin_s=0.1, wait_s=1, poll_s=0.05))
    held.start()
    wait_for("two renewals", lambda: lease.parse(lease.read_generation(run, 1)).get("seq", 0) >= 2, 10, 0.02)
    held.release()
    assert lease.parse(lease.read_generation(run, 1))["released"] is True


def test_a_live_lease_makes_the_waiter_give_up_with_one_line(run: RunPaths, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock(monkeypatch)
    owner = lease.acquire(run, FAST)

    def renewing_sleep(dt_s: float) -> None:  # the owner renews while the waiter waits
        clock.sleep(dt_s)
        owner.renew()

    lines: list[str] = []
    with pytest.raises(LeaseHeld) as info:
        lease.acquire(run, FAST, say=lines.append, sleep=renewing_sleep)
    msg = str(info.value)
    assert "\n" not in msg and f"pid {os.getpid()}" in msg and "writes nothing" in msg
    assert len(lines) == 1 and "waiting up to 10 s" in lines[0]
    assert lease.generations(run) == [1]  # the waiter created nothing
    owner.check()


def test_the_waiter_sees_expiry_on_its_own_clock_and_takes_over(run: RunPaths,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock(monkeypatch)
    old = lease.acquire(run, FAST)
    old._write({**old.owner, "renewed_at_s": time.time() + 1e6})  # the writer's wall clock runs ahead: irrelevant
    new = lease.acquire(run, FAST, sleep=clock.sleep)
    assert new.generation == 2 and new.took_over is not None
    assert new.took_over["token"] == old.owner["token"] and new.took_over["generation"] == 1
    assert FAST.expire_s <= new.waited_s <= FAST.expire_s + FAST.poll_s
    assert lease.parse(lease.read_generation(run, 2))["took_over"]["token"] == old.owner["token"]


def test_every_change_of_the_lease_restarts_the_waiters_clock(run: RunPaths,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock(monkeypatch)
    owner = lease.acquire(run, FAST)
    start_s, renewed = clock.now_s, []

    def sleep(dt_s: float) -> None:  # the owner renews five times, every 2.5 s (expiry: 4 s), then dies
        clock.sleep(dt_s)
        if len(renewed) < 5 and clock.now_s - start_s >= 2.5 * (len(renewed) + 1):
            owner.renew()
            renewed.append(clock.now_s - start_s)

    new = lease.acquire(run, LeaseSettings(**{**FAST.__dict__, "wait_s": 100.0}), sleep=sleep)
    assert len(renewed) == 5 and new.generation == 2
    assert new.waited_s >= renewed[-1] + FAST.expire_s  # 4 s unchanged after the last renewal


def test_the_old_owner_detects_the_takeover_and_stays_lost(run: RunPaths, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock(monkeypatch)
    old = lease.acquire(run, FAST)
    new = lease.acquire(run, FAST, sleep=clock.sleep)
    clock.now_s = old.confirmed_at  # as if the old owner's trust had not run out: the listing still tells
    with pytest.raises(LeaseLost, match=f"taken over by .*pid {os.getpid()}.*generation 2"):
        old.renew()
    with pytest.raises(LeaseLost):
        old.check()  # once lost, always lost
    assert not old.valid()
    assert lease.parse(lease.read_generation(run, 2))["token"] == new.owner["token"]  # the taker's file untouched
    new.check()


def test_an_owner_past_its_trust_renews_before_it_writes(run: RunPaths, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock(monkeypatch)
    held = lease.acquire(run, FAST)
    clock.sleep(FAST.trust_s + 5)  # the renewal thread was starved; nobody took over
    held.check()  # renews here, lists no successor: good again
    assert lease.parse(lease.read_generation(run, 1))["seq"] == 1 and held.confirmed_at == clock.now_s


def test_an_owner_past_its_trust_that_was_taken_over_stops(run: RunPaths, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock(monkeypatch)
    held = lease.acquire(run, FAST)
    lease.acquire(run, FAST, sleep=clock.sleep)
    with pytest.raises(LeaseLost, match="taken over"):
        held.check()


def test_an_owner_that_cannot_renew_past_its_trust_stops(run: RunPaths, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock(monkeypatch)
    held = lease.acquire(run, FAST)
    clock.sleep(FAST.trust_s - 0.01)
    held.check()  # within its trust: no file is touched
    run.lease(1).unlink()  # now its file cannot be rewritten
    clock.sleep(0.02)  # trust_s = expire_s - margin_s after the last confirmed renewal: a waiter needs expire_s
    with pytest.raises(LeaseLost, match="not renewed for 3 s"):
        held.check()
    with pytest.raises(LeaseLost):
        held.renew()  # once lost, always lost


def test_a_released_lease_is_taken_at_once_by_the_next_generation(run: RunPaths) -> None:
    first = lease.acquire(run, FAST)
    first.release(outcome="done")
    assert not first.valid()
    second = lease.acquire(run, LeaseSettings(**{**FAST.__dict__, "wait_s": 0.0}))
    assert (second.generation, second.contended) == (2, False)


def test_one_generation_is_created_once(run: RunPaths) -> None:
    assert lease._create(run, 1, {"token": "a"})
    assert not lease._create(run, 1, {"token": "b"})
    assert lease.parse(lease.read_generation(run, 1))["token"] == "a"
    assert [p.name for p in run.lease_dir.iterdir()] == ["000001.json"]


def test_a_dead_owner_on_this_host_is_taken_over_without_waiting(run: RunPaths) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert lease._create(run, 1, {"token": "dead", "pid": gone.pid, "host_id": lease._host_id(), "host": "here"})
    new = lease.acquire(run, LeaseSettings(**{**FAST.__dict__, "wait_s": 0.0}))
    assert new.generation == 2 and new.took_over is not None and new.took_over["token"] == "dead"


def test_settings_from_the_environment() -> None:
    assert LeaseSettings.from_env({}) == LeaseSettings()
    s = LeaseSettings.from_env({"EB_LEASE_PERIOD_S": "0.5"})
    assert (s.period_s, s.expire_s, s.margin_s, s.wait_s, s.trust_s) == (0.5, 2.0, 0.5, 2.5, 1.5)
    assert LeaseSettings.from_env({"EB_LEASE_PERIOD_S": "1", "EB_LEASE_WAIT_S": "0"}).wait_s == 0.0
    with pytest.raises(EnergybenchError, match="EB_LEASE_PERIOD_S='soon' is not a number"):
        LeaseSettings.from_env({"EB_LEASE_PERIOD_S": "soon"})
    with pytest.raises(EnergybenchError, match="at least 2 x EB_LEASE_PERIOD_S"):
        LeaseSettings.from_env({"EB_LEASE_PERIOD_S": "10", "EB_LEASE_EXPIRE_S": "15"})


# ------------------------------------------------------- two real workers, one run


def test_holder_alive_says_whether_anyone_may_still_hold_the_run(run: RunPaths) -> None:
    assert not lease.holder_alive(run)  # no lease at all
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert lease._create(run, 1, {"token": "dead", "pid": gone.pid, "host_id": lease._host_id(), "host": "here"})
    assert not lease.holder_alive(run)  # its owner's process is gone from this host
    assert lease._create(run, 2, {"token": "far", "pid": 1, "host_id": "another-host", "host": "far"})
    assert lease.holder_alive(run)  # another host's owner: may be alive
    mine = lease.acquire(run, LeaseSettings(**{**FAST.__dict__, "expire_s": 0.01, "margin_s": 0.001,
                                                "period_s": 0.001, "poll_s": 0.001}))
    assert mine.generation == 3 and lease.holder_alive(run)  # the far owner's lease expired: taken over
    mine.release()
    assert not lease.holder_alive(run)  # released


def test_a_full_disk_at_acquisition_fails_in_one_line_and_leaves_no_draft(run: RunPaths,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from energybench.errors import DiskFullError

    def full(self: Path, data: bytes) -> int:
        Path.open(self, "wb").close()  # the draft's name exists, its content does not fit
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(DiskFullError) as info:
        lease.acquire(run, FAST)
    assert str(info.value) == f"No space left on device while writing {run.lease(1)}"
    assert lease.generations(run) == [] and list(run.lease_dir.iterdir()) == []
