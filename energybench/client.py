"""What a command workload's program may tell energybench while it runs. Standard library only.

A config's ``command:`` workload runs any program as the run (plain PyTorch,
Lightning, JAX, a shell script); :mod:`energybench.worker.command` starts it
and meters the job's devices meanwhile. A program that imports this module can
mark its epochs and phases and report metrics, so the run gets one row per
epoch and every table; one that does not gets one row for the whole run::

    from energybench import client        # or copy this one file beside train.py

    p = client.params()                   # the grid point: batch_size, learning_rate, seed, ...
    start = client.resume_epoch() + 1     # epochs the worker recorded already (a requeued run)
    for epoch in range(start, 10**6):
        client.epoch_begin(epoch)         # optional: without it an epoch runs from the last epoch_end
        client.phase("train")
        ...
        client.phase("eval")
        ...
        client.epoch_end(val_accuracy=acc, val_loss=vl, train_loss=tl)
        if client.preempted():            # SIGUSR2: the job ends soon; save a checkpoint and exit
            save_checkpoint(); break
        if client.should_stop():          # the worker's threshold early stopping rule
            break

Outside energybench (no ``ENERGYBENCH_CLIENT_FD`` in the environment) every
call is a cheap no-op: :func:`should_stop` and :func:`preempted` answer False,
:func:`params` ``{}``, :func:`attempt` 1, :func:`resume_epoch` 0.

The protocol (the worker's side is :mod:`energybench.worker.command`): the
worker passes one end of a Unix socket pair as the inherited file descriptor
named by ``ENERGYBENCH_CLIENT_FD`` (``ENERGYBENCH_CLIENT_ID`` is its
``st_dev:st_ino``: a process that inherited the variable but not the
descriptor stays unconnected); messages are JSON objects, one per line, each
with an ``op``. ``hello`` (sent when this module connects), ``phase``
(``name``), ``epoch_begin`` (``epoch``, or null for the next one) and
``epoch_end`` (``metrics``) get no answer; ``should_stop`` (``id``) is
answered by ``{"id": ..., "stop": bool, "reason": ...}``. Other environment
variables: ``ENERGYBENCH_RUN_DIR``, ``ENERGYBENCH_RUN_ID``,
``ENERGYBENCH_ATTEMPT``, ``ENERGYBENCH_RESUME_EPOCH``, ``ENERGYBENCH_PARAMS``
(JSON).

Only the process that imported the module first talks to the worker: in a
forked child (a data-loader worker) every call is a no-op. A failure to reach
the worker never raises into the program: it is reported once on stderr and
the module falls back to no-ops. Preemption: the worker forwards SIGUSR2 (the
signal SLURM sends before a preemption or the time limit) to the program;
under energybench this module installs a SIGUSR2 handler when it is imported
(from the main thread), calling any handler that was there before, and
:func:`preempted` turns True and the :func:`on_preempt` callbacks run once.
A program that installs its own SIGUSR2 handler afterwards replaces this one.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["attempt", "connected", "epoch_begin", "epoch_end", "on_preempt", "params", "phase",
           "preempted", "resume_epoch", "run_dir", "should_stop"]

#: The protocol's version, sent in ``hello``.
PROTOCOL = 1
#: Environment variables the worker sets.
ENV_FD = "ENERGYBENCH_CLIENT_FD"
ENV_ID = "ENERGYBENCH_CLIENT_ID"  # the socket's identity: a process where that fd is something else ignores it
ENV_RUN_DIR = "ENERGYBENCH_RUN_DIR"
ENV_RUN_ID = "ENERGYBENCH_RUN_ID"
ENV_ATTEMPT = "ENERGYBENCH_ATTEMPT"
ENV_RESUME_EPOCH = "ENERGYBENCH_RESUME_EPOCH"
ENV_PARAMS = "ENERGYBENCH_PARAMS"
#: The signal the worker forwards before the job is preempted or reaches its time limit.
PREEMPT_SIGNAL = signal.SIGUSR2
#: How long a request waits for the worker's answer, seconds (then: no answer, False).
ANSWER_TIMEOUT_S = 60.0
#: Longest phase name, characters.
MAX_NAME = 64


def encode(message: dict[str, Any]) -> bytes:
    """One protocol message: a JSON object on one line (non-finite floats as NaN/Infinity)."""
    return (json.dumps(message, separators=(",", ":")) + "\n").encode()


def _number(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or isinstance(value, (str, bytes)):
        raise TypeError(f"energybench.client: metric {name}={value!r} is not a number")
    try:
        return float(value)  # ints, numpy scalars, 0-d tensors
    except (TypeError, ValueError):
        raise TypeError(f"energybench.client: metric {name}={value!r} is not a number") from None


def metrics_message(metrics: dict[str, Any]) -> dict[str, Any]:
    """The ``epoch_end`` message for ``metrics`` (each a number or None); TypeError for anything else."""
    out = {}
    for k, v in metrics.items():
        out[str(k)] = _number(k, v)
    return {"op": "epoch_end", "metrics": out}


def socket_id(fd: int) -> str:
    """What identifies the socket ``fd`` across processes that share it: its device and inode."""
    st = os.fstat(fd)
    return f"{st.st_dev}:{st.st_ino}"


class _Connection:
    """The socket to the worker, owned by the process that opened it."""

    def __init__(self, fd: int) -> None:
        self.pid = os.getpid()
        self.sock: socket.socket | None = socket.socket(fileno=fd)
        os.set_inheritable(fd, False)  # programs the program starts do not get it
        self.sock.settimeout(ANSWER_TIMEOUT_S)
        # Reentrant: a preemption callback (a signal handler) may report while the main thread is in a call.
        self.lock = threading.RLock()
        self.buf = b""
        self.next_id = 0
        self.answers: dict[int, dict[str, Any]] = {}  # answers read by a call they were not for

    def usable(self) -> bool:
        return self.sock is not None and os.getpid() == self.pid

    def _lost(self, exc: BaseException) -> None:
        print(f"energybench.client: lost the connection to the worker ({type(exc).__name__}: {exc}); "
              "marks and reports are ignored from here on", file=sys.stderr, flush=True)
        sock, self.sock = self.sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def send(self, message: dict[str, Any]) -> None:
        if not self.usable():
            return
        with self.lock:
            try:
                self.sock.sendall(encode(message))  # type: ignore[union-attr]
            except OSError as exc:
                self._lost(exc)

    def request(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """Send ``message`` with a fresh id and return the answer with that id (None: none came)."""
        if not self.usable():
            return None
        with self.lock:
            self.next_id += 1
            rid = self.next_id
            try:
                self.sock.sendall(encode({**message, "id": rid}))  # type: ignore[union-attr]
                while rid not in self.answers:
                    while b"\n" not in self.buf:
                        chunk = self.sock.recv(65536)  # type: ignore[union-attr]
                        if not chunk:
                            raise ConnectionError("the worker closed the connection")
                        self.buf += chunk
                    line, self.buf = self.buf.split(b"\n", 1)
                    answer = json.loads(line)
                    if isinstance(answer, dict) and isinstance(answer.get("id"), int):
                        self.answers[answer["id"]] = answer
                return self.answers.pop(rid)
            except (OSError, ValueError) as exc:
                self._lost(exc)
                return None


def _connect() -> _Connection | None:
    raw = os.environ.get(ENV_FD)
    if not raw:
        return None
    try:
        fd = int(raw)
        expected = os.environ.get(ENV_ID)
        if expected and socket_id(fd) != expected:
            # Inherited the variable, not the socket (a grandchild started with close_fds): fd is another file.
            return None
        conn = _Connection(fd)
    except (ValueError, OSError) as exc:
        print(f"energybench.client: {ENV_FD}={raw!r} is not a usable socket ({exc}); running unconnected",
              file=sys.stderr, flush=True)
        return None
    conn.send({"op": "hello", "pid": conn.pid, "protocol": PROTOCOL})
    return conn


_conn = _connect()
_preempted = threading.Event()
_callbacks: list[Callable[[], Any]] = []
_previous_handler: Any = None


def _on_signal(signum: int, frame: Any) -> None:
    first = not _preempted.is_set()
    _preempted.set()
    if first:
        for cb in list(_callbacks):
            cb()
    if callable(_previous_handler):
        _previous_handler(signum, frame)


def _install_handler() -> bool:
    """Catch :data:`PREEMPT_SIGNAL` (under energybench only), chaining the handler that was there."""
    global _previous_handler
    if threading.current_thread() is not threading.main_thread():
        return False
    try:
        previous = signal.getsignal(PREEMPT_SIGNAL)
        if previous is _on_signal:
            return True
        signal.signal(PREEMPT_SIGNAL, _on_signal)
    except (ValueError, OSError):
        return False
    _previous_handler = previous if callable(previous) else None
    return True


if _conn is not None or os.environ.get(ENV_RUN_DIR):
    _install_handler()


# ---------------------------------------------------------------- the API


def connected() -> bool:
    """Whether this process reports to an energybench worker."""
    return _conn is not None and _conn.usable()


def phase(name: str) -> None:
    """The program enters phase ``name`` (``"train"``, ``"eval"``, ``"checkpoint"`` or any tag) of
    the current epoch; with no epoch open, this opens the next one. Time in ``"checkpoint"`` is not
    part of the epoch's energy."""
    if _conn is None:
        return
    if not isinstance(name, str) or not name or len(name) > MAX_NAME:
        raise ValueError(f"energybench.client: a phase is a non-empty string of at most {MAX_NAME} "
                         f"characters, not {name!r}")
    _conn.send({"op": "phase", "name": name})


def epoch_begin(epoch: int | None = None) -> None:
    """An epoch starts now (in phase ``"train"``): ``epoch``, or the one after the last ended
    (the first: :func:`resume_epoch` + 1). Without it, an epoch runs from the previous
    :func:`epoch_end` (the first: from the program's start)."""
    if _conn is None:
        return
    if epoch is not None and (isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1):
        raise ValueError(f"energybench.client: an epoch is an integer >= 1, not {epoch!r}")
    _conn.send({"op": "epoch_begin", "epoch": epoch})


def epoch_end(**metrics: Any) -> None:
    """The current epoch ended; ``metrics`` are numbers (or None): ``val_accuracy`` (0..1),
    ``val_loss``, ``train_loss`` go into the epoch's row, and early stopping watches one of them."""
    if _conn is None:
        return
    _conn.send(metrics_message(metrics))


def should_stop() -> bool:
    """Whether the run should stop now, by the worker's threshold early stopping rule applied to the
    metrics reported so far (this and earlier attempts). False outside energybench."""
    if _conn is None:
        return False
    answer = _conn.request({"op": "should_stop"})
    return bool(answer and answer.get("stop"))


def preempted() -> bool:
    """Whether the worker has asked the program to stop soon (SIGUSR2): save a checkpoint and exit;
    the run is requeued and resumes with the next attempt."""
    return _preempted.is_set()


def on_preempt(callback: Callable[[], Any]) -> None:
    """Call ``callback()`` (in the main thread, from the signal handler) when the program is
    preempted; at once if it already was."""
    _callbacks.append(callback)
    if _preempted.is_set():
        callback()


def attempt() -> int:
    """This attempt of the run (1, then 2, ... after each requeue); 1 outside energybench."""
    try:
        return int(os.environ.get(ENV_ATTEMPT) or 1)
    except ValueError:
        return 1


def resume_epoch() -> int:
    """The last epoch the worker recorded as completed for this run in earlier attempts (0: none):
    a resumed program continues after it, from its own checkpoint of that epoch."""
    try:
        return int(os.environ.get(ENV_RESUME_EPOCH) or 0)
    except ValueError:
        return 0


def params() -> dict[str, Any]:
    """The run's grid point: batch_size, learning_rate, seed, repeat, setup, run_id and the extra
    grid parameters; ``{}`` outside energybench."""
    raw = os.environ.get(ENV_PARAMS)
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def run_dir() -> str | None:
    """The run's directory (the program's working directory when it starts); None outside energybench."""
    return os.environ.get(ENV_RUN_DIR) or None
