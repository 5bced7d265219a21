"""The training worker: one run, from its ``spec.json`` to its shards and record.

:mod:`energybench.launch` (the process the local executor starts, and the
SLURM job function) calls :func:`main`. The worker never raises for a run that
failed: it writes ``failed.json`` with a one-line reason and returns 1.

Stopping early on purpose (SLURM's USR2) is :mod:`.signals`: :func:`main`
returns :data:`~.signals.REQUEUE` when the epoch loop stopped at a checkpoint
on request. Policies from above the worker (the energy-budget rule) are
passed in as an :class:`~.rules.EnergyRule` factory; the worker imports none.

One live worker per run is :mod:`.lease`: :func:`main` takes the run's lease
before anything else (waiting a bounded time for a live one, returning
:data:`~.lease.HELD` if it stays live) and every write of :func:`execute`
checks it first; a worker that lost it returns :data:`~.lease.LOST` having
written nothing more.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import EnergybenchError
from ..paths import RunPaths, read_json, write_json
from ..plan import RunSpec
from ..states import State
from ..units import BYTES_PER_GIB, MIB_PER_GIB
from . import lease, markers
from .rules import EnergyRuleFactory, RungGateFactory, WorkloadResolver
from .signals import REQUEUE, STOP, Interrupted

#: The stop reason a run's record carries while it waits at the end of a search rung.
PAUSED = "rung_end"


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def _device(requested: str) -> Any:
    import torch

    if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise EnergybenchError("training.device is 'cuda' but no CUDA device is visible to this job")
        return torch.device("cuda")
    if requested == "mps":  # Apple GPUs; never picked by auto (the study measured them apart)
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise EnergybenchError("training.device is 'mps' but torch's MPS backend is not available here "
                                   "(an Apple-silicon Mac with a torch built with MPS)")
        return torch.device("mps")
    return torch.device("cpu")


def _provenance(device: Any, meter_info: dict[str, Any], spec: RunSpec) -> dict[str, Any]:
    from importlib.metadata import version
    import torch

    info: dict[str, Any] = {
        "host": socket.gethostname(), "python": platform.python_version(),
        "torch": torch.__version__, "timm": version("timm"), "energybench": __version__,
        "git_commit": _git_commit(), "device": device.type, **markers.scheduler_ids(),
        "meter": meter_info, "sampler_period_s": spec.meter.period_s,
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }
    if device.type == "cuda":
        info["gpu_name"] = torch.cuda.get_device_name(device)
        info["cuda_version"] = torch.version.cuda
    return info


def execute(run: RunPaths, energy_rule: EnergyRuleFactory | None = None,
            rung_gate: RungGateFactory | None = None, held: lease.Lease | None = None,
            workload_for: WorkloadResolver | None = None) -> dict[str, Any] | None:
    """Run the training described by ``run.spec``; returns the run record (None: pruned, nothing trained).

    ``workload_for`` finds the run's workload (``energybench.workloads``, passed in from above:
    the worker imports no registry); it builds the task and saves the artefacts.

    A searched run (``rung_gate``) first passes its gate: pruned, it ends here;
    else it trains to the end of its rung, records the pause and returns.
    ``held``: the run's lease, checked before every write (None: unguarded).
    """
    import torch

    from ..meter import open_meter
    from ..meter.sampler import Sampler
    from ..meter.samplers import open_sampler
    from ..shards import SampleShardWriter
    from .data import ensure_data
    from .models import model_characteristics
    from .command import run_command
    from .train import run_epochs

    guard = held.check if held is not None else _unguarded
    spec = RunSpec.from_dict(read_json(run.spec))
    if workload_for is None:
        raise EnergybenchError("the worker was started without a workload resolver (start it through "
                               "energybench.launch)")
    workload = workload_for(spec)
    gate = rung_gate(spec, run) if rung_gate is not None else None
    if run.done.exists() and (gate is not None or (held is not None and held.contended)):
        record = read_json(run.record) if run.record.exists() else {}
        if record.get("stop_reason") == "pruned":  # a later rung's task of a run its search pruned
            rung = (record.get("search_decision") or {}).get("rung")
            print(f"energybench worker: run {spec.run_id} was pruned after rung {rung}", file=sys.stderr)
        else:
            print(f"energybench worker: run {spec.run_id} has completed; nothing to do", file=sys.stderr)
        return None
    guard()
    admission = gate.admit() if gate is not None else None
    if admission is not None and admission.pruned:
        print(f"energybench worker: run {spec.run_id} was pruned after rung {admission.rung}", file=sys.stderr)
        return None
    attempt = markers.previous_attempts(run) + 1  # under the lease: no other worker numbers an attempt now
    if held is not None:
        held.renew(attempt=attempt)
    started = markers.mark_started(run, attempt)
    t_start = time.time()
    if spec.training.threads:
        torch.set_num_threads(spec.training.threads)
    torch.manual_seed(spec.seed)
    device = _device(spec.training.device)
    data_synthetic = ensure_data(spec.dataset, spec.data.model_dump(mode="json")) \
        if spec.dataset is not None and spec.data is not None else None
    command = workload.kind == "command"
    task, characteristics = None, {}
    if not command:  # a command's model is the program's own: nothing to build or count here
        task = workload.build(spec, device, run.sibling(spec.depends_on) if spec.depends_on else None)
        characteristics = model_characteristics(task.model, task.example_input)
        # What the offline estimators need besides the model (energybench.estimate.features).
        characteristics.update(n_train_samples=task.n_train, n_val_samples=task.n_val,
                               input_size=int(task.example_input[0].numel()),
                               loader=task.loader, loader_workers=task.loader_workers,
                               input_shape=list(task.example_input.shape[1:]))

    # The sampler: a thread here (default), or a process of its own (meter.sampler: process), where
    # a training loop that holds the interpreter cannot delay its readings; the meter opens in it.
    in_process = spec.meter.sampler == "thread"
    meter = open_meter(spec.meter.kind, tdp_w=spec.meter.tdp_w, device=device.type) if in_process else None
    writer = SampleShardWriter(run, attempt)
    progress: dict[str, Any] = {"attempt": attempt, "epoch": 0}

    def sink(batch: Any) -> None:
        guard()  # a refused batch stays with the sampler; it is never written by a worker that lost the lease
        writer.write(batch)
        guard()
        markers.heartbeat(run, **progress)

    def on_epoch(**p: Any) -> None:
        progress.update(p)
        guard()
        markers.heartbeat(run, **progress)

    if meter is not None:
        sampler: Any = Sampler(meter, run_id=spec.run_id, attempt=attempt, period_s=spec.meter.period_s,
                               flush_s=spec.meter.flush_s, sink=sink)
    else:
        sampler = open_sampler("process", spec.meter.kind, run_id=spec.run_id, attempt=attempt,
                               period_s=spec.meter.period_s, flush_s=spec.meter.flush_s, sink=sink,
                               tdp_w=spec.meter.tdp_w, device=device.type)
    idle_power_w, idle_domain_w = None, {}
    counter_period_s = meter.info().get("counter_period_s") if meter is not None else None
    try:
        sampler.start()
        if meter is None:
            counter_period_s = sampler.meter_info.get("counter_period_s")
        if spec.meter.idle_s > 0:
            sampler.begin(0, "idle")
            time.sleep(spec.meter.idle_s)
            sampler.begin(0, "checkpoint")
            idle = sampler.stats(0, ("idle",))
            if idle is not None and idle.samples >= 2 and idle.end_s > idle.start_s:
                energy = idle.energy_j()
                idle_power_w = energy / (idle.end_s - idle.start_s) if energy is not None else idle.mean_power_w
                idle_domain_w = idle_powers(idle)
        if command:
            result: Any = run_command(spec, run, attempt, workload.command, sampler, idle_power_w, on_epoch,
                                      params=spec.params, stop_requested=STOP, monitor=workload.monitor,
                                      timeout_s=workload.timeout_s, env=dict(workload.env),
                                      idle_domain_w=idle_domain_w, counter_period_s=counter_period_s, guard=guard)
        else:
            result = run_epochs(spec, run, attempt, task, sampler, device, idle_power_w, on_epoch,
                                stop_requested=STOP, energy_rule=energy_rule, idle_domain_w=idle_domain_w,
                                counter_period_s=counter_period_s,
                                until_epoch=admission.until_epoch if admission is not None else None,
                                guard=guard)
        if workload.artefacts:
            guard()
            workload.save_artefacts(task, run)
    finally:
        sampler.stop()
        if meter is not None:
            meter.close()
    guard()
    writer.compact()
    meter_info = meter.info() if meter is not None else dict(sampler.meter_info)
    meter_kind = meter.kind if meter is not None else sampler.meter_kind
    record = {
        **spec.to_dict(), "status": State.COMPLETED, "attempt": attempt, "attempts": attempt,
        "epochs": result.epochs, "stop_reason": PAUSED if result.paused else result.stop_reason,
        "threshold_epoch": result.threshold_epoch, "best_val_accuracy": result.best_val_accuracy,
        "resumed_from_epoch": result.resumed_from_epoch, "energy_budget": result.energy_budget,
        "idle_power_w": idle_power_w, **{f"idle_{d}_power_w": w for d, w in idle_domain_w.items()},
        "meter": meter_kind, "sampler": spec.meter.sampler, "energy_domains": meter_info.get("energy_domains"),
        "cpu_attribution": meter_info.get("cpu_attribution"), "counter_period_s": counter_period_s,
        "host_mem_gb": host_memory_gb(), "meter_errors": list(sampler.errors), "data_synthetic": data_synthetic,
        "attempt_wall_s": time.time() - t_start, "started": started,
        "provenance": _provenance(device, meter_info, spec), **characteristics,
        "workload_source": workload.source, "workload_version": workload.version,
        **(_command_record(result) if command else {}),
    }
    if result.paused and gate is not None and admission is not None:
        record["status"] = State.PENDING
        guard()
        write_json(run.record, record)
        guard()
        gate.paused(admission.rung, result.epochs, attempt)
        return record
    guard()
    write_json(run.record, record)
    guard()
    markers.mark_done(run, attempt=attempt, epochs=result.epochs)
    return record


def _command_record(result: Any) -> dict[str, Any]:
    """What ``run.json`` says of a command run: the program's exit, duration, output tail, whether it marked epochs."""
    return {"epoch_marks": result.marks, "command": result.command, "exit_status": result.exit_status,
            "command_duration_s": result.duration_s, "output_tail": result.output_tail,
            "command_log": result.log.name, "reported_metrics": result.metrics}


def _unguarded() -> None:
    pass


def host_memory_gb(env: dict[str, str] | None = None) -> float | None:
    """Host memory the job may use, GB: SLURM's ``--mem`` (per node, or per CPU x CPUs), else the host's RAM.

    This is the memory Green Algorithms charges (the memory requested), not what the run used.
    """
    env = dict(os.environ) if env is None else env
    per_node, per_cpu, cpus = env.get("SLURM_MEM_PER_NODE", ""), env.get("SLURM_MEM_PER_CPU", ""), env.get(
        "SLURM_CPUS_ON_NODE", "")
    if per_node.isdigit():
        return int(per_node) / MIB_PER_GIB  # SLURM reports MiB
    if per_cpu.isdigit() and cpus.isdigit():
        return int(per_cpu) * int(cpus) / MIB_PER_GIB
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / BYTES_PER_GIB
    except (ValueError, OSError, AttributeError):
        return None


def idle_powers(idle: Any) -> dict[str, float]:
    """Each domain's idle power from the idle window's statistics: its energy over the window, watts."""
    span_s = idle.end_s - idle.start_s
    out = {}
    for d, st in idle.domains.items():
        e_j = st.energy_j()
        w = e_j / span_s if e_j is not None and span_s > 0 else st.mean_power_w
        if w is not None:
            out[d] = w
    return out


def main(run_dir: str | Path, energy_rule: EnergyRuleFactory | None = None,
         rung_gate: RungGateFactory | None = None, workload_for: WorkloadResolver | None = None) -> int:
    """Execute one run; 0 on success (or a pause at a search rung's end, or pruned), 1 on failure
    (recorded in ``failed.json``), :data:`REQUEUE` on request, :data:`~.lease.HELD` when another
    live worker holds the run, :data:`~.lease.LOST` when this one lost its lease mid-run (neither
    writes anything into the run directory).

    ``energy_rule`` is the extra stopping rule each run gets (the energy budget); ``rung_gate``
    successive halving's gate (the search); None: none. ``workload_for`` finds the run's workload
    (``energybench.launch`` passes the registry's).
    """
    run = RunPaths(Path(run_dir).absolute())
    if not run.spec.exists():
        print(f"energybench worker: {run.spec}: no run spec here", file=sys.stderr)
        return 2
    # Load torch before taking the lease: loading its libraries holds the GIL (for long on a cold
    # shared file system), and the renewals would wait for it.
    import torch  # noqa: F401

    held: lease.Lease | None = None
    try:
        try:
            held = lease.acquire(run, lease.LeaseSettings.from_env(), say=_say).start()
            execute(run, energy_rule, rung_gate, held, workload_for)
            return 0
        except lease.LeaseHeld as exc:
            _say(f"energybench worker: run {run.dir.name} is {exc}")
            return lease.HELD
        except lease.LeaseLost as exc:
            _say(f"energybench worker: this worker {exc}; it stopped without writing more")
            return lease.LOST
        except Interrupted as exc:
            if held is None or held.valid():
                markers.heartbeat(run, attempt=markers.previous_attempts(run), epoch=exc.epoch, interrupted=True)
            print(f"energybench worker: run {run.dir.name} {exc}; requeue to resume", file=sys.stderr)
            return REQUEUE
        except EnergybenchError as exc:
            reason = str(exc)
        except Exception as exc:  # a bug or a crash: keep the traceback in the log
            traceback.print_exc()
            reason = f"{type(exc).__name__}: {exc}"
        except KeyboardInterrupt:
            if held is None:  # while waiting for another worker's lease: the run is not ours to mark
                _say(f"energybench worker: run {run.dir.name}: interrupted while waiting for another "
                     "worker's lease; this worker wrote nothing")
                return lease.HELD
            reason = "interrupted"
        # Only now, outside the except clauses: the exception and its traceback are gone, and with
        # them the frames of the write that failed. A torch.save that hit a full disk keeps its
        # (already unlinked) temporary open from its frame; until that file is closed its blocks stay
        # used, and failed.json would find no room.
        return _failed(run, held, reason)
    finally:
        if held is not None:
            held.release()


def _failed(run: RunPaths, held: lease.Lease | None, reason: str) -> int:
    """Record the failure (while the lease is still held) and say it on one line; the exit code."""
    reason = reason.splitlines()[0] if reason else "unknown error"
    if held is not None and not held.valid():
        _say(f"energybench worker: run {run.dir.name} failed after this worker lost its lease "
             f"({held.lost}); nothing recorded: {reason}")
        return lease.LOST
    try:
        markers.mark_failed(run, reason, attempt=markers.previous_attempts(run))
    except (OSError, EnergybenchError) as exc:  # e.g. the disk is full
        _say(f"energybench worker: run {run.dir.name}: cannot write {run.failed.name}: {exc}")
    _say(f"energybench worker: run {run.dir.name} failed: {reason}")
    return 1


def _say(line: str) -> None:
    """One line on stderr (the run's log), even when the log's filesystem is full."""
    try:
        print(line, file=sys.stderr, flush=True)
    except OSError:
        pass
