"""Command workloads: one attempt of a run whose training is a program (the counterpart of
:func:`~.train.run_epochs`).

A ``command:`` template (``python train.py --batch-size {batch_size} --lr {learning_rate}``) is
filled with the run's grid point, every value passed through :func:`shlex.quote` (nothing
reaches the shell unquoted), and run as ``/bin/sh -c`` in the run directory, as the leader of
its own process group, with stdout and stderr in ``command-a<attempt>.log``. While it runs the
sampler meters the job's devices, tagged by what the program says through
:mod:`energybench.client` over an inherited socket:

* ``epoch_begin`` / ``phase`` / ``epoch_end`` tag the samples ``(epoch, phase)`` and write one
  row per epoch into the attempt's epochs shard (:func:`~.train.epoch_row`, with the reported
  metrics), exactly as the built-ins do; an epoch's energy and duration cover its phases except
  ``checkpoint``; an epoch the program opens (``epoch_begin``, or its first ``phase``) starts
  then, one it does not runs from the previous ``epoch_end`` (the first: from the start);
* ``should_stop`` is answered by :class:`~energybench.stopping.ThresholdEarlyStopping` over the
  reported metrics, its state kept in ``command-state.json`` so a resumed attempt continues it;
* a program that marks nothing gets one row for the whole run (epoch 1; its samples are tagged
  :data:`UNMARKED`, as is a marking program's start-up).

When ``stop_requested`` is set (the worker's :data:`~.signals.STOP`, SLURM's USR2) the program's
group gets SIGUSR2 (the client exposes it as ``preempted()``), a bounded grace to save a
checkpoint and exit, then SIGTERM and SIGKILL; :class:`~.signals.Interrupted` carries the last
completed epoch, and the next attempt resumes after it (``resume_epoch()``). A non-zero exit and
the time limit raise :class:`~energybench.errors.WorkerError` with a one-line reason. The
program's process group is killed whenever this returns or raises: no process outlives the run.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from .. import client as client_protocol
from ..errors import WorkerError
from ..paths import RunPaths, read_json, write_json
from ..plan import RunSpec
from ..schema import EPOCH_SCHEMA
from ..shards import write_table
from ..stopping import ThresholdEarlyStopping
from ..templates import TemplateError, check_placeholders, fill, placeholders
from .signals import Interrupted
from .train import epoch_row

__all__ = ["CommandResult", "TemplateError", "check_placeholders", "command_values", "fill", "output_tail",
           "placeholders", "run_command"]  # the template functions are energybench.templates' (no torch there)

#: The metrics of an epoch row; other reported metrics are kept in ``command-state.json`` only.
ROW_METRICS = ("train_loss", "val_loss", "val_accuracy")
#: Phases whose time is not part of an epoch's energy or duration.
NOT_EPOCH = frozenset({"checkpoint"})
#: The phase of the program's time before its first mark (its start-up), and of all of it when it
#: marks nothing. A phase of its own, not ``train``: whether the program will mark its epochs is
#: known only once it does, and a program that opens its first epoch must not find its start-up
#: in that epoch's ``train``.
UNMARKED = "run"
#: The stop reason of a run whose program ended on its own (exit 0) before the rule stopped it.
EXITED = "exited"
#: The output tail a result and a failure carry: at most this many lines and bytes.
TAIL_LINES, TAIL_BYTES = 20, 4096
_SHELL = "/bin/sh"
# The shell itself ignores SIGUSR2 (a trap, reset to the default in what it execs): the signal is
# for the program, and a shell that died of it would end the run before the program checkpoints.
_PROLOGUE = "trap : USR2\n"


def command_values(spec: RunSpec, run: RunPaths, attempt: int, params: Mapping[str, Any]) -> dict[str, Any]:
    """What a run's command is filled with: every standard placeholder
    (:data:`energybench.workloads.command.STANDARD_PLACEHOLDERS`) and the extra grid params."""
    return {**dict(params), "batch_size": spec.batch_size, "learning_rate": spec.learning_rate,
            "seed": spec.seed, "repeat": spec.repeat, "setup": spec.setup, "run_id": spec.run_id,
            "hardware": spec.hardware, "attempt": attempt, "run_dir": str(run.dir),
            "python": sys.executable,  # the worker's interpreter: the environment energybench runs in
            "config_dir": (spec.workload or {}).get("folder") or ""}


# ---------------------------------------------------------------- the result


@dataclass
class CommandResult:
    """What one attempt of a command run tells the run record (the fields of
    :class:`~.train.LoopResult`, and the program's own)."""

    epochs: int  # the last completed epoch, over every attempt (1 for a run without marks)
    stop_reason: str | None  # patience | max_epochs (the rule said stop) | exited (it ended on its own)
    threshold_epoch: int | None
    best_val_accuracy: float | None
    resumed_from_epoch: int
    exit_status: int | None  # the program's exit code; negative: the signal that ended it
    duration_s: float  # from the program's start to its exit, seconds
    output_tail: str  # its last lines of output (at most TAIL_LINES lines, TAIL_BYTES bytes)
    marks: bool  # it reported epochs (this or an earlier attempt): epoch rows; else one row for the run
    command: str  # the filled command line
    log: Path  # its stdout and stderr
    epoch_rows: int = 0  # rows written to this attempt's epochs shard
    metrics: dict[str, Any] = field(default_factory=dict)  # the last epoch's reported metrics
    energy_budget: dict[str, Any] | None = None  # (LoopResult's; no energy rule for commands)
    paused: bool = False  # (LoopResult's; commands do not pause at search rungs)


# ---------------------------------------------------------------- the session


class _Session:
    """The worker's side of one attempt's client connection: tags, rows, the stopping rule.

    Every message is handled on the reader thread; :meth:`finish` runs on the caller's after
    the reader has ended. ``error`` is the first exception a handler raised (the caller raises it).
    """

    def __init__(self, spec: RunSpec, run: RunPaths, attempt: int, sampler: Any, idle_power_w: float | None,
                 progress: Callable[..., None], monitor: str | None, idle_domain_w: dict[str, float] | None,
                 counter_period_s: float | None, guard: Callable[[], None]) -> None:
        self.spec, self.run, self.attempt, self.sampler = spec, run, attempt, sampler
        self.idle_power_w, self.idle_domain_w, self.counter_period_s = idle_power_w, idle_domain_w, counter_period_s
        self.progress, self.monitor, self.guard = progress, monitor, guard
        es = spec.early_stopping
        state = read_json(run.command_state) if run.command_state.exists() else {}
        self.stopper = ThresholdEarlyStopping.from_state(state["stopper"]) if state.get("stopper") else \
            ThresholdEarlyStopping(monitor=monitor, threshold=es.threshold,
                                   patience_epochs=es.patience_epochs, max_epochs=es.max_epochs,
                                   min_delta=es.min_delta)
        self.resumed_from = self.last = int(state.get("epoch", 0))
        self.marked_before = bool(state.get("marks"))
        self.best_acc: float | None = state.get("best_val_accuracy")
        self.metrics: dict[str, Any] = dict(state.get("metrics") or {})
        self.rows: list[dict[str, Any]] = []
        self.energy_j = 0.0
        self.marked = False  # any phase/epoch mark this attempt
        self.ended = 0  # epoch_end messages this attempt
        self.begin_style: bool | None = None  # learnt from the first mark: epochs opened explicitly
        self.error: BaseException | None = None
        self.lock = threading.Lock()
        # The current tag and the time spent in each (epoch, phase) so far.
        self.tag: tuple[int, str] | None = None
        self.tag_t0 = 0.0
        self.elapsed: dict[tuple[int, str], float] = {}
        # The epoch in progress: its number, whether the program opened it, its phases, start.
        self.epoch = self.last + 1
        self.explicit = False
        self.open = True
        self.phases: set[str] = set()
        self.start_s = time.time()

    # -- tags
    def _switch(self, epoch: int, phase: str) -> None:
        now = time.perf_counter()
        if self.tag is not None:
            self.elapsed[self.tag] = self.elapsed.get(self.tag, 0.0) + now - self.tag_t0
        self.sampler.begin(epoch, phase)
        self.tag, self.tag_t0 = (epoch, phase), now
        if self.open and epoch == self.epoch:
            self.phases.add(phase)

    def start(self) -> None:
        """The program starts: epoch ``last + 1``, :data:`UNMARKED`, until it marks something."""
        self.start_s = time.time()
        self._switch(self.epoch, UNMARKED)

    def _open(self, epoch: int, explicit: bool) -> None:
        self.epoch, self.explicit, self.open, self.phases = epoch, explicit, True, set()
        self.start_s = time.time()

    # -- messages
    def handle(self, msg: Any) -> dict[str, Any] | None:
        """Act on one message; the answer to send back, if it is a request."""
        op = msg.get("op") if isinstance(msg, dict) else None
        with self.lock:
            if op == "hello":  # the program imported the client (nothing to do: its marks will tell)
                pass
            elif op == "phase":
                name = msg.get("name")
                if not isinstance(name, str) or not name:
                    return None
                self._mark(True)
                if not self.open or (not self.explicit and self.begin_style):  # the first phase of an epoch
                    self._open(self.last + 1, True)
                self._switch(self.epoch, name[:client_protocol.MAX_NAME])
            elif op == "epoch_begin":
                e = msg.get("epoch")
                self._mark(True)
                if self.open and self.explicit:
                    _say(f"energybench worker: run {self.spec.run_id}: epoch {self.epoch} began again "
                         "before it ended; its measurement is dropped")
                self._open(int(e) if isinstance(e, int) and e >= 1 else self.last + 1, True)
                self._switch(self.epoch, "train")
            elif op == "epoch_end":
                self._mark(False)
                self._epoch_end(msg.get("metrics") if isinstance(msg.get("metrics"), dict) else {})
            elif op == "should_stop":
                return {"id": msg.get("id"), "stop": self.stopper.stop_reason is not None,
                        "reason": self.stopper.stop_reason}
            elif isinstance(msg, dict) and "id" in msg:  # a request of a later protocol: answer, don't hang it
                return {"id": msg.get("id"), "error": f"unknown op {op!r}"}
        return None

    def _mark(self, explicit: bool) -> None:
        self.marked = True
        if self.begin_style is None:
            self.begin_style = explicit

    def _epoch_end(self, metrics: dict[str, Any]) -> None:
        e = self.epoch
        if not self.open:  # ended twice, or begin-style program that skipped a begin: no phases of its own
            self._open(self.last + 1, False)
            e = self.epoch
        counted = {p for p in self.phases if p not in NOT_EPOCH}
        # The boundary reading that closes the epoch's phases.
        self._switch(e if self.begin_style else e + 1, "checkpoint" if self.begin_style else "train")
        duration_s = sum(self.elapsed.get((e, p), 0.0) for p in counted)
        stats = self.sampler.stats(e, tuple(sorted(counted))) if counted else None
        values = {k: _float(metrics.get(k)) for k in ROW_METRICS}
        row = epoch_row(self.spec, self.attempt, e, self.start_s, duration_s, stats, self.idle_power_w,
                        values["train_loss"], values["val_loss"], values["val_accuracy"],
                        self.idle_domain_w, self.counter_period_s)
        self.rows.append(row)
        self.guard()
        write_table(self.run.epochs(self.attempt), pa.Table.from_pylist(self.rows, schema=EPOCH_SCHEMA),
                    EPOCH_SCHEMA)
        if self.stopper.stop_reason is None:  # the decision stands once made
            self.stopper.update(_float(metrics.get(self.monitor)) if self.monitor else None)
        acc = values["val_accuracy"]
        if acc is not None and acc == acc and (self.best_acc is None or acc > self.best_acc):
            self.best_acc = acc
        self.last, self.ended, self.metrics = e, self.ended + 1, {k: _float(v) for k, v in metrics.items()}
        self._save_state()
        self.energy_j += row["energy_j"] or 0.0
        self.progress(epoch=e, val_accuracy=values["val_accuracy"], val_loss=values["val_loss"],
                      energy_j_this_attempt=self.energy_j, attempt=self.attempt)
        if self.begin_style:
            self.open = False
        else:
            self._open(e + 1, False)
            self.phases.add("train")

    def _save_state(self) -> None:
        self.guard()
        write_json(self.run.command_state, {
            "epoch": self.last, "attempt": self.attempt, "marks": True, "stopper": self.stopper.state_dict(),
            "best_val_accuracy": self.best_acc, "metrics": self.metrics,
        })

    # -- the end
    @property
    def marks(self) -> bool:
        return self.ended > 0 or self.marked_before

    def finish(self, exited_normally: bool) -> None:
        """The program has exited: close the tags; without marks, the run's single row."""
        with self.lock:
            if self.marks or not exited_normally:
                if self.tag is not None:
                    self._switch(self.tag[0], "checkpoint")
                return
            e = self.last + 1
            self._switch(e, "checkpoint")
            phases = tuple(sorted(p for (ep, p) in self.elapsed if ep == e and p != "checkpoint"))
            duration_s = sum(self.elapsed[(e, p)] for p in phases)
            stats = self.sampler.stats(e, phases) if phases else None
            row = epoch_row(self.spec, self.attempt, e, self.start_s, duration_s, stats, self.idle_power_w,
                            None, None, None, self.idle_domain_w, self.counter_period_s)
            self.rows.append(row)
            self.guard()
            write_table(self.run.epochs(self.attempt), pa.Table.from_pylist(self.rows, schema=EPOCH_SCHEMA),
                        EPOCH_SCHEMA)
            self.last = e
            self.progress(epoch=e, val_accuracy=None, val_loss=None, energy_j_this_attempt=row["energy_j"] or 0.0,
                          attempt=self.attempt)

    def best_val_accuracy(self) -> float | None:
        if self.monitor == "val_accuracy":
            return self.stopper.best
        return self.best_acc


def _float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _say(line: str) -> None:
    try:
        print(line, file=sys.stderr, flush=True)
    except OSError:
        pass


def _serve(sock: socket.socket, session: _Session) -> None:
    """The reader thread: one JSON message per line until the program's end closes the socket."""
    buf = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except OSError:
            return
        if not chunk:
            return
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if session.error is not None:
                continue  # drain, never act after a failure
            try:
                msg = json.loads(line)
            except ValueError:
                continue  # not ours (a program that wrote to the descriptor): ignored
            try:
                answer = session.handle(msg)
            except Exception as exc:  # the caller raises it after ending the program
                session.error = exc
                continue
            if answer is not None:
                try:
                    sock.sendall(client_protocol.encode(answer))
                except OSError:
                    pass
        if len(buf) > 1 << 20:  # a line a megabyte long is no message
            buf = b""


# ---------------------------------------------------------------- the process


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _exited(proc: subprocess.Popen[bytes]) -> bool:
    """Whether the program (the group's leader) has exited, without reaping it: while it is a
    zombie its pid, the group's id, cannot be reused, so signalling the group stays safe."""
    if hasattr(os, "waitid"):
        try:
            return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True  # reaped already
    return proc.poll() is not None


def _wait_exit(proc: subprocess.Popen[bytes], timeout_s: float, poll_s: float) -> bool:
    end = time.monotonic() + timeout_s
    while not _exited(proc):
        if time.monotonic() >= end:
            return False
        time.sleep(poll_s)
    return True


def _end_group(proc: subprocess.Popen[bytes], grace_s: float, poll_s: float) -> None:
    """SIGTERM the group, SIGKILL it after ``grace_s`` (or at once if the leader has exited), reap."""
    if not _exited(proc):
        _signal_group(proc.pid, signal.SIGTERM)
        _wait_exit(proc, grace_s, poll_s)
    _signal_group(proc.pid, signal.SIGKILL)  # and whatever the program left behind
    proc.wait()


def _end_reader(reader: threading.Thread, sock: socket.socket, drain_s: float = 10.0) -> None:
    """Let the reader handle what the program sent, then end it: a process outside the program's
    group (one that left it) may still hold the other end, so the socket is shut down after ``drain_s``."""
    reader.join(timeout=drain_s)
    if reader.is_alive():
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        reader.join(timeout=5.0)


def output_tail(path: Path, lines: int = TAIL_LINES, max_bytes: int = TAIL_BYTES) -> str:
    """The last ``lines`` lines (at most ``max_bytes`` bytes) of ``path``; '' if there is none."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace")
    parts = text.splitlines()
    if size > max_bytes and parts:
        parts = parts[1:]  # the first line is cut
    return "\n".join(parts[-lines:])


def _last_line(tail: str) -> str:
    for line in reversed(tail.splitlines()):
        if line.strip():
            line = line.strip()
            return line if len(line) <= 200 else line[:197] + "..."
    return ""


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


def _exit_reason(rc: int) -> str:
    if rc < 0:
        return f"was killed by {_signal_name(-rc)}"
    if 128 < rc < 128 + 65:  # the shell's report of a program a signal ended
        return f"exited with status {rc} (killed by {_signal_name(rc - 128)}?)"
    return f"exited with status {rc}"


def run_command(spec: RunSpec, run: RunPaths, attempt: int, command: str, sampler: Any,
                idle_power_w: float | None, progress: Callable[..., None], *,
                params: Mapping[str, Any] | None = None, stop_requested: threading.Event | None = None,
                monitor: str | None = "val_accuracy", timeout_s: float | None = None,
                env: Mapping[str, str] | None = None, idle_domain_w: dict[str, float] | None = None,
                counter_period_s: float | None = None, guard: Callable[[], None] | None = None,
                preempt_grace_s: float = 60.0, kill_grace_s: float = 10.0, poll_s: float = 0.05) -> CommandResult:
    """Run one attempt of a command run: ``command`` (a template) filled by :func:`fill` with
    :func:`command_values` (``params``: the extra grid parameters), as ``/bin/sh -c`` in ``run.dir``.

    ``sampler`` is started (:class:`~energybench.meter.sampler.Sampler`); ``progress`` is called
    after every epoch like :func:`~.train.run_epochs` calls it. ``monitor``: the reported metric
    early stopping watches, as for the built-ins (``val_accuracy``: the threshold rule;
    ``val_loss``: loss patience; None: nothing, the rule stops at ``max_epochs`` only). ``timeout_s``: the program's time limit from its start (None: none).
    ``env``: variables added to the worker's environment. ``guard`` is called before every write
    and while waiting (the lease); what it raises ends the program and propagates.
    ``preempt_grace_s``: how long a preempted program may take to exit after SIGUSR2;
    ``kill_grace_s``: between SIGTERM and SIGKILL.

    Raises :class:`~.signals.Interrupted` (the last completed epoch) when ``stop_requested`` was
    set while the program ran (unless it then exited 0 with the rule's stop decision made),
    :class:`~energybench.errors.WorkerError` for a non-zero exit or the time limit,
    :class:`TemplateError` for a template that does not fill.
    """
    guard = guard if guard is not None else _no_guard
    stop_requested = stop_requested if stop_requested is not None else threading.Event()
    filled = fill(command, command_values(spec, run, attempt, params or {}))
    session = _Session(spec, run, attempt, sampler, idle_power_w, progress, monitor, idle_domain_w,
                       counter_period_s, guard)
    log = run.command_log(attempt)
    guard()
    run.dir.mkdir(parents=True, exist_ok=True)
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    child_env = {
        **os.environ, **(env or {}),
        client_protocol.ENV_FD: str(child.fileno()), client_protocol.ENV_ID: client_protocol.socket_id(child.fileno()),
        client_protocol.ENV_RUN_DIR: str(run.dir),
        client_protocol.ENV_RUN_ID: spec.run_id, client_protocol.ENV_ATTEMPT: str(attempt),
        client_protocol.ENV_RESUME_EPOCH: str(session.resumed_from),
        client_protocol.ENV_PARAMS: json.dumps({**dict(params or {}), "batch_size": spec.batch_size,
                                                "learning_rate": spec.learning_rate, "seed": spec.seed,
                                                "repeat": spec.repeat, "setup": spec.setup,
                                                "run_id": spec.run_id, "hardware": spec.hardware},
                                               default=str),
    }
    child_env.setdefault("PYTHONUNBUFFERED", "1")  # a program ended at the time limit leaves its last lines
    _say(f"energybench worker: run {spec.run_id} attempt {attempt}: {filled}")
    proc: subprocess.Popen[bytes] | None = None
    reader: threading.Thread | None = None
    forwarded = False
    try:
        with open(log, "wb") as out:
            session.start()
            t0 = time.monotonic()
            proc = subprocess.Popen([_SHELL, "-c", _PROLOGUE + filled], cwd=run.dir, env=child_env,
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    pass_fds=(child.fileno(),), start_new_session=True)
        child.close()
        reader = threading.Thread(target=_serve, args=(parent, session), name="energybench-command", daemon=True)
        reader.start()
        deadline = t0 + timeout_s if timeout_s is not None else None
        while not _exited(proc):
            if session.error is not None:
                raise session.error
            if stop_requested.is_set():
                forwarded = True
                _say(f"energybench worker: run {spec.run_id}: stop requested; SIGUSR2 to the program, "
                     f"{preempt_grace_s:g} s to exit")
                _signal_group(proc.pid, signal.SIGUSR2)
                if not _wait_exit(proc, preempt_grace_s, poll_s):
                    _say(f"energybench worker: run {spec.run_id}: the program did not exit within "
                         f"{preempt_grace_s:g} s of SIGUSR2; ending it")
                break
            if deadline is not None and time.monotonic() >= deadline:
                _end_group(proc, kill_grace_s, poll_s)
                last = _last_line(output_tail(log))
                raise WorkerError(f"command ended at the time limit of {timeout_s:g} s"
                                  + (f"; last output: {last}" if last else ""))
            guard()
            stop_requested.wait(poll_s)
        _end_group(proc, kill_grace_s, poll_s)  # whatever it left behind; reaps the leader
        duration_s = time.monotonic() - t0
        rc = proc.returncode
        _end_reader(reader, parent)  # the messages it sent before it exited
        if session.error is not None:
            raise session.error
        tail = output_tail(log)
        if forwarded and not (rc == 0 and session.stopper.stop_reason is not None):
            session.finish(exited_normally=False)
            raise Interrupted(session.last)
        if rc != 0:
            session.finish(exited_normally=False)
            last = _last_line(tail)
            raise WorkerError(f"command {_exit_reason(rc)}" + (f"; last output: {last}" if last else ""))
        session.finish(exited_normally=True)
    finally:
        if proc is not None and proc.returncode is None:  # an exception while it ran
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
        child.close()
        if reader is not None:
            _end_reader(reader, parent, drain_s=1.0)
        parent.close()
    return CommandResult(
        epochs=session.last, stop_reason=session.stopper.stop_reason or EXITED,
        threshold_epoch=session.stopper.threshold_epoch if monitor == "val_accuracy" else None,
        best_val_accuracy=session.best_val_accuracy(), resumed_from_epoch=session.resumed_from,
        exit_status=rc, duration_s=duration_s, output_tail=tail, marks=session.marks, command=filled, log=log,
        epoch_rows=len(session.rows), metrics=session.metrics)


def _no_guard() -> None:
    pass
