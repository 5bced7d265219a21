"""The sampler in a process of its own: a GIL-holding training loop cannot delay its ticks.

:class:`ProcessSampler` has :class:`~energybench.meter.sampler.Sampler`'s public interface
(``start``/``begin``/``stats``/``stop``/``errors``/``rows_flushed``, a context manager), but the
meter is opened and read in a child process (:func:`main` of this module, started through
:data:`_BOOT`), which imports the meter package and pyarrow, never torch (nor pandas or numpy,
which pyarrow would import for nothing: :data:`KEPT_OUT`). The child drives an ordinary :class:`Sampler` without its thread (``prime``, ``tick``,
``flush``), so tagging, accumulation and batches are the in-process sampler's code, not a copy.

* **The channel** is one Unix socket pair. The parent sends small framed messages: ``begin``
  (epoch and phase, ~20 bytes; no reply is awaited), ``stats`` (a request/response round trip),
  ``stop``. The child waits in ``select`` with the next tick's deadline as its timeout, so a
  ``begin`` wakes it at once: the boundary reading is taken within the wake-up latency of a
  process (microseconds to tens of them), stamped with the child's read time. Messages are
  handled in order, so ``stats(epoch)`` after ``begin(epoch, "checkpoint")`` includes that
  boundary reading.
* **Time** is the parent's: the child takes the parent's anchor of
  :func:`~energybench.meter.base.unix_time_s` (wall clock at import + the system-wide monotonic
  clock since), so the child's readings and the parent's times are on one axis.
* **Rows** go over at every flush as Arrow IPC bytes; a reader thread in the parent hands them to
  ``sink`` (writes and heartbeats exactly as with the thread), retrying batches the sink refused at
  the next flush, as the thread does. The reader wakes once per ``flush_s``, not once per tick.
* **The estimate meter** measures the CPU time of the *training* process (the parent, or
  ``cpu_pid``), read through Linux's per-process CPU clock, not the sampler's own.
* **Failures are bounded**: start waits at most :data:`START_TIMEOUT_S` for the meter to open
  (a meter that cannot open raises :class:`~energybench.errors.MeterError` with the child's
  one-line reason), ``stats`` at most :data:`REPLY_TIMEOUT_S`, ``stop`` at most
  :data:`STOP_TIMEOUT_S` before it kills the child. A child that dies is one line in
  :attr:`ProcessSampler.errors`; training goes on. The child ignores the job's signals (SIGINT,
  SIGTERM, SIGHUP, SIGUSR1/2: the worker decides when to stop) and exits when the parent's end of
  the socket closes or (checked at every flush) the parent is gone.
* **What it relies on**: a free core. The child's ticks cost no interpreter time in the training
  process, but each still costs a timer wake-up and a reading on *some* CPU; where every core is
  busy, that time comes from whoever the kernel preempts.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..errors import MeterError
from ..schema import SAMPLE_SCHEMA
from . import base
from .sampler import PhaseStats, Sampler, merge_stats, next_slot, note_error

__all__ = ["REPLY_TIMEOUT_S", "START_TIMEOUT_S", "STOP_TIMEOUT_S", "ProcessSampler"]

#: Longest wait for the child to start and open its meter, seconds (NVML's init can take seconds).
START_TIMEOUT_S = 60.0
#: Longest wait for the answer to ``stats``, seconds.
REPLY_TIMEOUT_S = 10.0
#: Longest wait for the child to flush and exit after ``stop``, seconds (then it is killed).
STOP_TIMEOUT_S = 10.0
# A send the other end does not drain for this long means it is gone (child side), seconds.
_SEND_TIMEOUT_S = 30.0
# Send buffer of the child's socket, bytes (a flush of 5 s at 1 kHz is about 1 MB).
_SEND_BUFFER_BYTES = 4 << 20
# Batches the sink refused, kept for retry at the next flush (as the thread sampler keeps them).
_MAX_PENDING_BATCHES = 100

_HDR = struct.Struct("<cI")  # message type, payload length
_BEGIN = struct.Struct("<q")  # epoch; the phase follows as UTF-8
_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2")
#: Packages the child refuses to import: torch (never needed there), and pandas and numpy, which
#: pyarrow would import (~0.5 s and tens of MB) though nothing in the child uses them.
KEPT_OUT = ("torch", "pandas", "numpy")
# The child's entry: a finder that keeps KEPT_OUT out, installed before pyarrow is imported.
_BOOT = f"""import os, sys
class _KeepOut:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {KEPT_OUT!r}:
            raise ModuleNotFoundError(name + " is kept out of the sampler process", name=name)
sys.meta_path.insert(0, _KeepOut())
from energybench.meter.process import main
code = main(sys.argv[1:])
sys.stdout.flush(); sys.stderr.flush()
os._exit(code)  # the meter is closed and the rows are sent: skip the interpreter's teardown
"""


def _frame(kind: bytes, payload: bytes = b"") -> bytes:
    return _HDR.pack(kind, len(payload)) + payload


def _one_line(exc: BaseException) -> str:
    msg = str(exc).splitlines()[0] if str(exc) else ""
    return msg if isinstance(exc, MeterError) and msg else f"{type(exc).__name__}: {msg}".rstrip(": ")


def _split(buf: bytearray) -> list[tuple[bytes, bytes]]:
    """Complete messages at the start of ``buf`` (removed from it)."""
    out, pos = [], 0
    while len(buf) - pos >= _HDR.size:
        kind, n = _HDR.unpack_from(buf, pos)
        if len(buf) - pos - _HDR.size < n:
            break
        start = pos + _HDR.size
        out.append((kind, bytes(buf[start:start + n])))
        pos = start + n
    del buf[:pos]
    return out


def _ipc(batch: pa.RecordBatch) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as w:
        w.write_batch(batch)
    return sink.getvalue().to_pybytes()


def _from_ipc(data: bytes) -> pa.RecordBatch:
    batch = pa.ipc.open_stream(data).read_next_batch()
    return pa.RecordBatch.from_arrays(batch.columns, schema=SAMPLE_SCHEMA)


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class ProcessSampler:
    """Samples a meter opened in a child process; see the module docstring.

    ``meter_kind``, ``tdp_w`` and ``device`` open the meter as
    :func:`~energybench.meter.open_meter` does. ``meter_factory`` (``"module:callable"``,
    importable in the child, called with ``meter_options``) builds one instead, e.g.
    ``"energybench.meter.synthetic:SyntheticMeter"`` for tests. ``cpu_pid`` is the process whose
    CPU time the estimate meter counts (default: this one). ``sink`` runs in this process.
    """

    def __init__(self, meter_kind: str = "auto", *, run_id: str, attempt: int, period_s: float, flush_s: float,
                 sink: Callable[[pa.RecordBatch], object], tdp_w: float | None = None, device: str = "cpu",
                 meter_factory: str | None = None, meter_options: dict[str, Any] | None = None,
                 cpu_pid: int | None = None, log_meter_open: bool = True,
                 name: str = "energybench-sampler") -> None:
        if period_s <= 0 or flush_s <= 0:
            raise ValueError("period_s and flush_s must be > 0")
        self.run_id = run_id
        self.attempt = attempt
        self.period_s = period_s
        self.flush_s = flush_s
        self.sink = sink
        self.name = name
        self._config: dict[str, Any] = {
            "kind": meter_kind, "tdp_w": tdp_w, "device": device, "factory": meter_factory,
            "options": dict(meter_options or {}), "cpu_pid": cpu_pid or os.getpid(), "ppid": os.getpid(),
            "log": log_meter_open, "run_id": run_id, "attempt": attempt, "period_s": period_s,
            "flush_s": flush_s, "clock": (base._WALL0_S, base._MONO0_S),
        }
        self.rows_flushed = 0
        self.lost = False  # the device was lost; sampling has ended (as reported by the child)
        self.skipped_periods = 0  # as reported by the child at its latest flush
        self.meter_kind: str | None = None  # the opened meter's ``kind`` (after start)
        self.meter_info: dict[str, Any] | None = None  # its ``info()``: at start, then after it closed
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._reader: threading.Thread | None = None
        self._send_lock = threading.Lock()
        self._deliver_lock = threading.Lock()  # one sink call at a time
        self._lock = threading.Lock()  # errors, replies, final state
        self._started = False
        self._stopped = False
        self._ended = False  # the child said goodbye (after stop)
        self._gone = threading.Event()  # the reader has seen the end of the channel
        self._child_errors: list[str] = []
        self._errors: dict[str, list[Any]] = {}  # kind -> [first message, count]
        self._warned_mono: dict[str, float] = {}
        self._pending: list[pa.RecordBatch] = []
        self._replies: dict[int, list[Any]] = {}  # request id -> [Event, answer]
        self._next_request = 0
        self._final_accs: dict[Any, Any] | None = None

    # ------------------------------------------------------------ public API
    @property
    def child_pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        """Start the child, open the meter there and take its first reading; raises
        :class:`MeterError` (one line) when the meter cannot open."""
        if self._started:
            return
        self._started = True
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = dict(os.environ)
        root = Path(__file__).resolve().parents[2]  # where this energybench is imported from (a source tree)
        if root.name not in ("site-packages", "dist-packages"):
            env["PYTHONPATH"] = os.pathsep.join([str(root), *filter(None, [env.get("PYTHONPATH")])])
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _BOOT, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env=env, close_fds=True)
        except OSError as exc:
            ours.close()
            raise MeterError(f"sampler process cannot start: {_one_line(exc)}") from None
        finally:
            theirs.close()
        self._sock = ours
        try:
            ours.sendall(_frame(b"C", pickle.dumps(self._config)))
            kind, payload, leftover = self._handshake(ours)
        except BaseException:
            self._kill()
            raise
        if kind == b"F":
            self._kill()
            raise MeterError(payload.decode(errors="replace"))
        ready = pickle.loads(payload)
        self.meter_kind, self.meter_info = ready["kind"], ready["info"]
        ours.settimeout(None)
        self._reader = threading.Thread(target=self._read_loop, args=(leftover,), name=f"{self.name}-reader",
                                        daemon=True)
        self._reader.start()

    def begin(self, epoch: int, phase: str) -> None:
        """Tell the child that ``(epoch, phase)`` begins: it takes a boundary reading as soon as the
        message arrives and tags it, and every later reading, so. Does not wait for a reply."""
        sock = self._sock
        if sock is None or self._stopped or self._gone.is_set():
            return None
        payload = _BEGIN.pack(epoch) + phase.encode()
        try:
            with self._send_lock:
                sock.sendall(_HDR.pack(b"B", len(payload)) + payload)
        except OSError:  # the child is gone; the reader reports it
            pass
        return None

    def stats(self, epoch: int, phases: tuple[str, ...] = ("train", "eval")) -> PhaseStats | None:
        """Merged statistics of ``phases`` in ``epoch`` (the child's running sums; after stop, the
        final ones); None if none of them has a reading, or the child cannot answer."""
        if self._final_accs is not None:
            return merge_stats(self._final_accs, epoch, tuple(phases))
        sock = self._sock
        if sock is None or self._gone.is_set():
            return None
        event = threading.Event()
        with self._lock:
            self._next_request += 1
            req = self._next_request
            self._replies[req] = [event, None]
        try:
            with self._send_lock:
                sock.sendall(_frame(b"S", pickle.dumps((req, epoch, tuple(phases)))))
        except OSError:
            event.set()
        if not event.wait(REPLY_TIMEOUT_S):
            with self._lock:
                self._note("stats", f"no answer from the sampler process within {REPLY_TIMEOUT_S:g} s")
        with self._lock:
            slot = self._replies.pop(req, [None, None])
        if slot[1] is None and self._final_accs is not None:  # it ended meanwhile
            return merge_stats(self._final_accs, epoch, tuple(phases))
        return slot[1]

    def stop(self) -> None:
        """Take a last reading, flush everything to the sink, end the child and join. Idempotent;
        every wait is bounded."""
        if self._stopped:
            return
        self._stopped = True
        if self._proc is None:
            return
        if self._reader is None:  # start() failed: the child is already gone
            self._kill()
            return
        try:
            if self._sock is not None and not self._gone.is_set():
                try:
                    with self._send_lock:
                        self._sock.sendall(_frame(b"Q"))
                except OSError:
                    pass
            if not self._gone.wait(STOP_TIMEOUT_S):
                with self._lock:
                    self._note("sampler process", f"did not stop within {STOP_TIMEOUT_S:g} s; killed")
                self._kill()
            if self._reader is not None:
                self._reader.join(STOP_TIMEOUT_S)
        finally:
            try:
                self._proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._kill()
            if self._sock is not None:
                self._sock.close()
            self._deliver()  # batches the sink refused before

    @property
    def errors(self) -> list[str]:
        """The child's meter and sampling failures, then this side's (sink, the child's death)."""
        with self._lock:
            own = [f"{kind}: {msg}" + (f" (x{n})" if n > 1 else "") for kind, (msg, n) in self._errors.items()]
            return list(self._child_errors) + own

    def __enter__(self) -> "ProcessSampler":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ internals (parent)
    def _handshake(self, sock: socket.socket) -> tuple[bytes, bytes, bytearray]:
        """The child's first message, ready (``R``) or failed (``F``), within :data:`START_TIMEOUT_S`,
        and what came after it (for the reader)."""
        buf = bytearray()
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise MeterError(f"sampler process did not open the meter within {START_TIMEOUT_S:g} s")
            sock.settimeout(min(left, 0.5))
            try:
                data = sock.recv(1 << 16)
            except socket.timeout:
                data = None
            if data == b"":
                code = self._proc.wait(STOP_TIMEOUT_S) if self._proc is not None else None
                raise MeterError(f"sampler process ended before the meter opened ({_exit_reason(code)})")
            if data:
                buf += data
                if len(buf) >= _HDR.size:
                    kind, n = _HDR.unpack_from(buf)
                    if len(buf) >= _HDR.size + n:
                        first = bytes(buf[_HDR.size:_HDR.size + n])
                        del buf[:_HDR.size + n]
                        return kind, first, buf

    def _read_loop(self, buf: bytearray) -> None:
        sock = self._sock
        assert sock is not None
        try:
            for kind, payload in _split(buf):
                self._handle(kind, payload)
            while True:
                try:
                    data = sock.recv(1 << 20)
                except OSError:
                    data = b""
                if not data:
                    break
                buf += data
                for kind, payload in _split(buf):
                    self._handle(kind, payload)
        except Exception as exc:  # a bug here must not pass silently, nor hang stop()
            with self._lock:
                self._note(f"sampler reader {type(exc).__name__}", exc)
        finally:
            if not self._ended:
                code = None
                if self._proc is not None:
                    try:
                        code = self._proc.wait(2.0)
                    except subprocess.TimeoutExpired:
                        pass
                with self._lock:
                    self._note("sampler process", f"ended before stop() ({_exit_reason(code)}); sampling stopped")
            with self._lock:
                for slot in self._replies.values():
                    slot[0].set()
            self._gone.set()

    def _handle(self, kind: bytes, payload: bytes) -> None:
        if kind == b"D":  # a flush: rows and the child's state
            msg = pickle.loads(payload)
            self._state(msg)
            self._pending.append(_from_ipc(msg["batch"]))
            self._deliver()
        elif kind == b"S":  # the answer to stats()
            req, answer = pickle.loads(payload)
            with self._lock:
                slot = self._replies.get(req)
                if slot is not None:
                    slot[1] = answer
                    slot[0].set()
        elif kind == b"E":  # goodbye, after stop: final state, info after close, the running sums
            msg = pickle.loads(payload)
            self._state(msg)
            self.meter_info = msg["info"]
            self._final_accs = msg["accs"]
            self._ended = True

    def _state(self, msg: dict[str, Any]) -> None:
        with self._lock:
            self._child_errors = list(msg["errors"])
        self.lost, self.skipped_periods = msg["lost"], msg["skipped"]

    def _deliver(self) -> None:
        """Hand received batches to the sink, oldest first; keep what it refuses for the next flush."""
        with self._deliver_lock:
            self._deliver_locked()

    def _deliver_locked(self) -> None:
        while self._pending:
            batch = self._pending[0]
            try:
                self.sink(batch)
            except Exception as exc:
                with self._lock:
                    self._note(f"sink {type(exc).__name__}", exc)
                self._pending = self._pending[-_MAX_PENDING_BATCHES:]
                return
            self._pending.pop(0)
            self.rows_flushed += batch.num_rows

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            try:
                self._proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pass
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _note(self, kind: str, exc: BaseException | str) -> None:
        """Count a failure (lock held); warn on stderr at most once per :data:`~.sampler.WARN_EVERY_S` per kind."""
        note_error(self._errors, self._warned_mono, kind, exc)


# ---------------------------------------------------------------- the child
def _measure_cpu_of(meter: Any, pid: int) -> None:
    """Make every estimate meter inside ``meter`` count process ``pid``'s CPU time, not this one's."""
    from .estimate import EstimateMeter

    stack, seen = [meter], []
    while stack:
        m = stack.pop()
        if any(m is s for s in seen):
            continue
        seen.append(m)
        inner = vars(m).get("meter") if hasattr(m, "__dict__") else None
        stack.extend([inner] if inner is not None else [])
        stack.extend(getattr(m, "parts", []) or [])
    for em in (m for m in seen if isinstance(m, EstimateMeter)):
        if not sys.platform.startswith("linux"):
            raise MeterError("the estimate meter in a sampler process needs Linux's per-process CPU clocks; "
                             "use the thread sampler")
        clock_id = ((~pid) << 3) | 2  # Linux: MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED), all its threads

        def cpu_time_s(clock_id: int = clock_id) -> float:
            return time.clock_gettime(clock_id)

        em._cpu_time_s = cpu_time_s
        em._last_cpu_s = cpu_time_s()

        def info(em: EstimateMeter = em) -> dict[str, Any]:
            out = EstimateMeter.info(em)
            out["covers"] = f"CPU time of process {pid} (the training process; read by the sampler process)"
            out["sources"] = {**out["sources"], "util_pct": f"CPU clock of process {pid} delta / (wall delta x cores_used)"}
            return out

        em.info = info  # type: ignore[method-assign]


def _open_in_child(cfg: dict[str, Any]) -> Any:
    if cfg["factory"]:
        import importlib

        module, _, attr = cfg["factory"].partition(":")
        meter = getattr(importlib.import_module(module), attr)(**cfg["options"])
    else:
        from . import open_meter, print_to_stderr

        meter = open_meter(cfg["kind"], tdp_w=cfg["tdp_w"], device=cfg["device"],
                           log=print_to_stderr if cfg["log"] else (lambda _line: None))
    _measure_cpu_of(meter, cfg["cpu_pid"])
    return meter


def _child_state(sampler: Sampler) -> dict[str, Any]:
    return {"errors": sampler.errors, "lost": sampler.lost, "skipped": sampler.skipped_periods}


def serve(fd: int) -> int:
    """The child's main loop on the socket ``fd`` (see the module docstring); returns the exit code."""
    for name in _SIGNALS:  # the worker decides when sampling ends, not the job's signals
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    sock = socket.socket(fileno=fd)
    sock.settimeout(_SEND_TIMEOUT_S)
    try:  # room for a whole flush, so a parent busy in its sink does not hold up the ticks
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SEND_BUFFER_BYTES)
    except OSError:
        pass
    buf = bytearray()
    msgs: list[tuple[bytes, bytes]] = []
    while not msgs:  # the configuration
        r, _, _ = select.select([sock], [], [], _SEND_TIMEOUT_S)
        data = sock.recv(1 << 16) if r else b""
        if not data:
            return 2
        buf += data
        msgs = _split(buf)
    cfg = pickle.loads(msgs.pop(0)[1])
    base._WALL0_S, base._MONO0_S = cfg["clock"]

    def sink(batch: pa.RecordBatch) -> None:
        sock.sendall(_frame(b"D", pickle.dumps({"batch": _ipc(batch), **_child_state(sampler)})))

    try:
        meter = _open_in_child(cfg)
        sampler = Sampler(meter, run_id=cfg["run_id"], attempt=cfg["attempt"], period_s=cfg["period_s"],
                          flush_s=cfg["flush_s"], sink=sink)
        next_mono = sampler.prime()
    except Exception as exc:
        sock.sendall(_frame(b"F", _one_line(exc).encode()))
        return 1
    period_s, ppid = cfg["period_s"], cfg["ppid"]
    sock.sendall(_frame(b"R", pickle.dumps({"kind": meter.kind, "info": meter.info()})))
    stop_asked = parent_gone = False
    ticking = True
    pending = msgs  # messages that came with the configuration
    try:
        while not (stop_asked or parent_gone):
            if ticking:
                next_mono, _, skipped = next_slot(next_mono, period_s, time.monotonic())
                sampler.skipped_periods += skipped
            while True:  # serve messages until the tick is due
                for kind, payload in pending:
                    if kind == b"B":
                        (epoch,) = _BEGIN.unpack_from(payload)
                        sampler.begin(epoch, payload[_BEGIN.size:].decode())
                    elif kind == b"S":
                        req, epoch, phases = pickle.loads(payload)
                        sock.sendall(_frame(b"S", pickle.dumps((req, sampler.stats(epoch, phases)))))
                    elif kind == b"Q":
                        stop_asked = True
                pending = []
                if stop_asked:
                    break
                timeout = max(next_mono - time.monotonic(), 0.0) if ticking else 1.0
                r, _, _ = select.select([sock], [], [], timeout)
                if r:
                    data = sock.recv(1 << 16)
                    if not data:
                        parent_gone = True
                        break
                    buf += data
                    pending = _split(buf)
                elif ticking:
                    break
                elif os.getppid() != ppid:
                    parent_gone = True
                    break
            if stop_asked or parent_gone:
                break
            sampler.tick()
            if sampler.lost:  # the device is gone: keep answering, stop ticking
                ticking = False
                sampler.flush()
            elif sampler.flush_due():
                sampler.flush()
                if os.getppid() != ppid:
                    parent_gone = True
    finally:
        if not parent_gone:
            sampler.tick()  # the last reading, as Sampler.stop() takes it
            sampler.flush()
            try:
                meter.close()
            finally:
                try:
                    sock.sendall(_frame(b"E", pickle.dumps({**_child_state(sampler), "info": meter.info(),
                                                             "accs": sampler.accumulators()})))
                except OSError:  # the parent went away meanwhile
                    pass
        sock.close()
    return 0


def main(argv: list[str]) -> int:
    """``python -m energybench.meter.process FD`` (:class:`ProcessSampler` starts it through
    :data:`_BOOT`, which also keeps :data:`KEPT_OUT` out before anything is imported)."""
    return serve(int(argv[0]))


if __name__ == "__main__":
    _code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_code)  # the meter is closed and the rows are sent: skip the interpreter's teardown
