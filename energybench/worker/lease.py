"""One live worker per run: a lease on the run directory that needs no file lock.

A node that SLURM declares dead (or a slurmd that dies alone) can leave the
old worker running while the requeued attempt of the same run starts
elsewhere; both would write into ``runs/<id>/``. Locks do not settle it:
``flock`` and ``fcntl`` locks are node-local or unreliable on NFS, Lustre and
GPFS as mounted on clusters. The lease relies on three things only:

* **Exclusive creation.** The lease is a sequence of *generation* files,
  ``runs/<id>/lease/<generation>.json``, each created once with a hard link
  (written beside it first, so it is whole when it appears; ``link`` fails
  with EEXIST when the name exists, atomically on the NFS server, Lustre's
  MDS and GPFS alike; a retransmitted LINK whose reply was lost is
  recognised by the link count, as ``open(2)`` advises). Holding the lease
  means having created the highest generation. A takeover creates the next
  one: of two workers that try, exactly one succeeds. A generation file is
  never created twice, so nobody can write into another's.
* **Close-to-open consistency.** The owner rewrites its own generation file
  in place every ``period_s`` (a renewal counter changes its content); a
  waiter opens and reads it afresh at every poll, and the owner lists the
  lease directory after every renewal to see whether a next generation
  appeared. Opening a file or a directory revalidates it on NFS (unless
  mounted ``nocto``); Lustre and GPFS are coherent anyway.
* **Each side's own elapsed-time clock, never a comparison of two hosts'
  clocks.** A waiter takes over only after it has seen the lease's content
  unchanged for ``expire_s`` on its own clock. The owner trusts its lease
  for ``expire_s - margin_s`` after the start of its last renewal that it
  confirmed (written, and no successor listed after it): any takeover comes
  at least ``expire_s`` after that renewal landed, so the owner stops first.
  Only the two clocks' rates must agree (to far better than ``margin_s``),
  not their readings. The clock is ``CLOCK_BOOTTIME`` where there is one
  (it keeps counting while a machine is suspended), else the monotonic clock.

The owner calls :meth:`Lease.check` before every write that matters (a
sample shard, an epoch row, a checkpoint, the record, a marker) and at every
training step: a few attribute reads and one clock read. Past its trust (the
renewal thread starved) the check renews first, and passes only if that
renewal lists no successor. A worker that lost its lease raises
:class:`LeaseLost` there and writes nothing more; once lost, always lost.

What it does not cover: a write already on its way when the check passed
that lands more than ``margin_s`` later (a process frozen between check and
write, a client that replays a buffered write after a partition heals);
writes into the run directory by other processes (the executor's failed
marker, a rung decision pruning a paused run); NFS mounted ``nocto``.

Wall-clock times in the files are for people reading them; no decision uses
them.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DiskFullError, EnergybenchError
from ..paths import RunPaths

#: The worker's exit code when another live worker holds the run: this launch wrote nothing there.
HELD = 4
#: The worker's exit code when it lost its lease mid-run and stopped without writing more.
LOST = 5

_GENERATION = re.compile(r"(\d+)\.json$")


class LeaseHeld(EnergybenchError):
    """Another live worker holds the run's lease; this worker waited as long as it may."""


class LeaseLost(EnergybenchError):
    """This worker's lease was taken over (or could not be renewed in time): it must not write."""


def clock() -> float:
    """Seconds on this host's elapsed-time clock (counts through suspend where the OS allows)."""
    return time.clock_gettime(_CLOCK)


_CLOCK = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)


@dataclass(frozen=True)
class LeaseSettings:
    """The lease's timings, seconds. A waiter takes over after ``expire_s`` without a renewal."""

    period_s: float = 15.0  # the owner renews every period_s
    expire_s: float = 60.0  # a waiter takes over a lease it saw unchanged this long (its own clock)
    margin_s: float = 15.0  # the owner stops trusting its lease this long before a takeover could come
    wait_s: float = 75.0  # a new worker gives up on a live lease after waiting this long
    poll_s: float = 1.0  # a waiter re-reads the lease this often

    def __post_init__(self) -> None:
        problems = [f"{name} must be > 0 (got {getattr(self, name)})"
                    for name in ("period_s", "expire_s", "margin_s", "poll_s") if getattr(self, name) <= 0]
        if self.trust_s < self.period_s:
            problems.append(f"expire_s - margin_s ({self.trust_s:g}) must be at least period_s "
                            f"({self.period_s:g}): the owner would lose its lease between two renewals")
        if self.wait_s < 0:
            problems.append(f"wait_s must be >= 0 (got {self.wait_s})")
        if problems:
            raise EnergybenchError("lease settings: " + "; ".join(problems))

    @property
    def trust_s(self) -> float:
        """How long the owner trusts its lease after the start of its last confirmed renewal."""
        return self.expire_s - self.margin_s

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "LeaseSettings":
        """``EB_LEASE_PERIOD_S`` (renewal period; expiry 4 periods, margin 1, wait 5, unless set),
        ``EB_LEASE_EXPIRE_S`` and ``EB_LEASE_WAIT_S``; unset: the defaults (15, 60 and 75 s)."""
        env = dict(os.environ) if env is None else env

        def number(name: str) -> float | None:
            raw = env.get(name, "").strip()
            if not raw:
                return None
            try:
                value = float(raw)
            except ValueError:
                raise EnergybenchError(f"{name}={raw!r} is not a number of seconds") from None
            if not value > 0 and name != "EB_LEASE_WAIT_S":
                raise EnergybenchError(f"{name}={raw!r} must be > 0 seconds")
            return value

        period_s = number("EB_LEASE_PERIOD_S") or cls.period_s
        expire_s = number("EB_LEASE_EXPIRE_S") or 4 * period_s
        wait_s = number("EB_LEASE_WAIT_S")
        try:
            return cls(period_s=period_s, expire_s=expire_s, margin_s=period_s,
                       wait_s=expire_s + period_s if wait_s is None else wait_s, poll_s=min(1.0, period_s / 4))
        except EnergybenchError as exc:
            raise EnergybenchError(f"EB_LEASE_PERIOD_S={period_s:g}, EB_LEASE_EXPIRE_S={expire_s:g}: {exc} "
                                   "(the margin is one period: set EB_LEASE_EXPIRE_S to at least "
                                   "2 x EB_LEASE_PERIOD_S)") from None


def _host_id() -> str | None:
    """This kernel's boot id and PID namespace: two processes with equal ids see each other's pids."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return f"{boot}/{os.readlink('/proc/self/ns/pid')}"
    except OSError:
        return None


def generations(run: RunPaths) -> list[int]:
    """The lease generations present, ascending (listing the directory revalidates it on NFS)."""
    try:
        names = os.listdir(run.lease_dir)
    except FileNotFoundError:
        return []
    return sorted(int(m.group(1)) for n in names if not n.startswith(".") and (m := _GENERATION.fullmatch(n)))


def read_generation(run: RunPaths, generation: int) -> bytes | None:
    """The raw content of one generation file (opened afresh), or None if it is gone."""
    try:
        with open(run.lease(generation), "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def parse(raw: bytes | None) -> dict[str, Any]:
    """A generation file's content; {} while it is being rewritten (a torn read) or gone."""
    try:
        data = json.loads(raw or b"")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def describe(owner: dict[str, Any]) -> str:
    """``host h, pid p, attempt a`` of a lease's owner, for one-line messages."""
    return (f"host {owner.get('host', '?')}, pid {owner.get('pid', '?')}, "
            f"attempt {owner.get('attempt') if owner.get('attempt') is not None else '?'}")


def _create(run: RunPaths, generation: int, data: dict[str, Any]) -> bool:
    """Create generation ``generation`` holding ``data``; False if it exists (someone else was first)."""
    target = run.lease(generation)
    draft = target.with_name(f".{target.name}.{data['token']}.draft")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        draft.write_bytes(_encode(data))
    except OSError as exc:
        draft.unlink(missing_ok=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFullError(f"{os.strerror(exc.errno)} while writing {target}") from None
        raise
    try:
        os.link(draft, target)
        return True
    except FileExistsError:
        # NFS: a retransmitted LINK whose first reply was lost fails although it worked.
        return os.stat(draft).st_nlink == 2
    finally:
        draft.unlink(missing_ok=True)


def _encode(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def holder_alive(run: RunPaths) -> bool:
    """Someone may still hold the run: its highest generation is not released, and its owner is not
    a process of this host that is gone (another host's owner counts as alive)."""
    gens = generations(run)
    if not gens:
        return False
    data = parse(read_generation(run, gens[-1]))
    return data.get("released") is not True and not _owner_dead(data, _host_id())


def _owner_dead(owner: dict[str, Any], host_id: str | None) -> bool:
    """The owner ran on this kernel in this PID namespace and its process is gone."""
    if host_id is None or owner.get("host_id") != host_id or not isinstance(owner.get("pid"), int):
        return False
    try:
        os.kill(owner["pid"], 0)
    except ProcessLookupError:
        return True
    except OSError:  # another user's live process
        return False
    return False


@dataclass
class Lease:
    """This worker's hold on one run directory; see the module docstring."""

    run: RunPaths
    generation: int
    owner: dict[str, Any]  # what the generation file says: token, host, pid, attempt, ...
    settings: LeaseSettings
    confirmed_at: float  # clock() at the start of the last confirmed renewal
    waited_s: float = 0.0  # how long acquiring waited for another worker's lease
    took_over: dict[str, Any] | None = None  # the owner whose expired lease this one replaced
    lost: str | None = None  # why the lease was lost (sticky)
    _seq: int = 0
    _io: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def contended(self) -> bool:
        """Another worker held the run when this one arrived."""
        return self.waited_s > 0 or self.took_over is not None

    def check(self) -> None:
        """Raise :class:`LeaseLost` unless this worker may still write; cheap enough for every step.

        Past its trust (renewals starved: a long call that holds the GIL, a stalled file system)
        it renews here first, and goes on only if that renewal finds no successor.
        """
        if self.lost is None and clock() - self.confirmed_at < self.settings.trust_s:
            return
        if self.lost is None:
            silent_s = clock() - self.confirmed_at
            try:
                self._renew_now()
                return
            except OSError as exc:
                self.lost = f"lease not renewed for {silent_s:.0f} s ({exc})"
        raise LeaseLost(f"lost its lease on {self.run.dir.name}: {self.lost}")

    def valid(self) -> bool:
        """True while :meth:`check` would pass."""
        try:
            self.check()
            return True
        except LeaseLost:
            return False

    def renew(self, **info: Any) -> None:
        """Rewrite the generation file (with ``info`` added), then confirm nobody took over."""
        if self.lost is not None:
            raise LeaseLost(f"lost its lease on {self.run.dir.name}: {self.lost}")
        self._renew_now(**info)

    def _renew_now(self, **info: Any) -> None:
        # Sound whenever it is called: a waiter that takes over after the listing below must have
        # watched this write unchanged for expire_s, so no takeover comes before t0 + expire_s.
        t0 = clock()
        with self._io:
            self.owner.update(info)
            self._seq += 1
            self._write({**self.owner, "seq": self._seq, "renewed_at_s": time.time()})
        later = [g for g in generations(self.run) if g > self.generation]
        if later:
            successor = parse(read_generation(self.run, later[-1]))
            self.lost = f"taken over by {describe(successor)} (generation {later[-1]})"
            raise LeaseLost(f"lost its lease on {self.run.dir.name}: {self.lost}")
        self.confirmed_at = max(self.confirmed_at, t0)

    def start(self) -> "Lease":
        """Renew every ``period_s`` on a named daemon thread until :meth:`release`."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._renew_loop, name="energybench-lease", daemon=True)
            self._thread.start()
        return self

    def release(self, **outcome: Any) -> None:
        """Stop renewing and, if still held, mark the generation released so the next worker need not wait."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.settings.period_s)
        if not self.valid():
            return
        try:
            with self._io:
                self._write({**self.owner, "seq": self._seq + 1, "released": True, "released_at_s": time.time(),
                             **outcome})
        except OSError as exc:  # a full or stalled file system: the next worker waits for the expiry instead
            _say(f"energybench worker: cannot release the lease of {self.run.dir.name}: {exc}")
        self.lost = "released"

    def _write(self, data: dict[str, Any]) -> None:
        # In place, in our own file: a late write can never land in another worker's generation.
        fd = os.open(self.run.lease(self.generation), os.O_WRONLY)
        try:
            payload = memoryview(_encode(data))
            size = len(payload)
            while payload:  # a short write (a filling disk) is finished or raises
                payload = payload[os.write(fd, payload):]
            os.ftruncate(fd, size)
        finally:
            os.close(fd)  # close flushes to the server (NFS close-to-open); no fsync: a lease needs no durability

    def _renew_loop(self) -> None:
        warned = False
        while not self._stop.wait(self.settings.period_s):
            try:
                self.renew()
            except LeaseLost:
                return
            except OSError as exc:  # a stalled or full file system: the next renewal may work
                if not warned:
                    warned = True
                    _say(f"energybench worker: cannot renew the lease of {self.run.dir.name}: {exc}")


def acquire(run: RunPaths, settings: LeaseSettings, *, say: Callable[[str], None] | None = None,
            sleep: Callable[[float], None] = time.sleep) -> Lease:
    """Take the run's lease: at once if it is free or released, else wait for it to expire.

    A waiter watches the highest generation; every change of its content
    restarts the wait. After ``expire_s`` without one (or at once, when the
    owner's process is gone from this very host) it takes over by creating
    the next generation. A lease still renewed after ``wait_s`` raises
    :class:`LeaseHeld` with a one-line reason. The caller starts the renewals
    (:meth:`Lease.start`).
    """
    say = say or (lambda _: None)
    host_id = _host_id()
    token = secrets.token_hex(8)
    start = clock()
    watched: tuple[int, bytes | None, float] | None = None  # generation, content, first seen at
    took_over: dict[str, Any] | None = None
    announced = False
    while True:
        gens = generations(run)
        current = gens[-1] if gens else 0
        raw = read_generation(run, current) if current else None
        data = parse(raw)
        now = clock()
        free = current == 0 or raw is None or data.get("released") is True
        if not free:
            if watched is None or watched[:2] != (current, raw):
                watched = (current, raw, now)
            expired = now - watched[2] >= settings.expire_s or _owner_dead(data, host_id)
            if expired:
                took_over = {**{k: data.get(k) for k in ("host", "pid", "attempt", "token")}, "generation": current}
        if free or took_over is not None:
            owner = {"token": token, "host": socket.gethostname(), "pid": os.getpid(), "host_id": host_id,
                     "attempt": None, "generation": current + 1, "acquired_at_s": time.time(),
                     "period_s": settings.period_s, "expire_s": settings.expire_s, "took_over": took_over}
            t0 = clock()
            if _create(run, current + 1, owner):
                return Lease(run, current + 1, owner, settings, confirmed_at=t0,
                             waited_s=t0 - start if watched is not None else 0.0, took_over=took_over)
            took_over, watched = None, None  # another worker was first: watch its generation
            continue
        if now - start >= settings.wait_s:
            unchanged_s = now - watched[2]  # type: ignore[index]
            raise LeaseHeld(f"held by a live worker ({describe(data)}): in the {now - start:.1f} s this worker "
                            f"waited (EB_LEASE_WAIT_S={settings.wait_s:g}) its lease never stayed unchanged for the "
                            f"{settings.expire_s:g} s that expire it (EB_LEASE_EXPIRE_S; unchanged for the last "
                            f"{unchanged_s:.1f} s); this worker leaves the run to it and writes nothing")
        if not announced:
            announced = True
            say(f"energybench worker: run {run.dir.name} is held by {describe(data)}; waiting up to "
                f"{settings.wait_s:g} s for it to end or its lease to expire ({settings.expire_s:g} s unrenewed)")
        sleep(settings.poll_s)


def _say(line: str) -> None:
    try:
        print(line, file=sys.stderr, flush=True)
    except OSError:
        pass
