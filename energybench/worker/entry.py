"""The training worker: one run, from its ``spec.json`` to its shards and record.

:mod:`energybench.launch` (the process the local executor starts, and the
SLURM job function) calls :func:`main`. The worker never raises for a run that
failed: it writes ``failed.json`` with a one-line reason and returns 1.

Stopping early on purpose (SLURM's USR2) is :mod:`.signals`: :func:`main`
returns :data:`~.signals.REQUEUE` when the epoch loop stopped at a checkpoint
on request. Policies from above the worker (the energy-budget rule) are
passed in as an :class:`~.rules.EnergyRule` factory; the worker imports none.
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
from . import markers
from .rules import EnergyRuleFactory, RungGateFactory
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
            rung_gate: RungGateFactory | None = None) -> dict[str, Any] | None:
    """Run the training described by ``run.spec``; returns the run record (None: pruned, nothing trained).

    A searched run (``rung_gate``) first passes its gate: pruned, it ends here;
    else it trains to the end of its rung, records the pause and returns.
    """
    import torch

    from ..meter import open_meter
    from ..meter.sampler import Sampler
    from ..shards import SampleShardWriter
    from .data import ensure_data
    from .models import model_characteristics
    from .tasks import build_task
    from .train import run_epochs

    spec = RunSpec.from_dict(read_json(run.spec))
    gate = rung_gate(spec, run) if rung_gate is not None else None
    if gate is not None and run.done.exists():
        print(f"energybench worker: run {spec.run_id} has completed; nothing to do", file=sys.stderr)
        return None
    admission = gate.admit() if gate is not None else None
    if admission is not None and admission.pruned:
        print(f"energybench worker: run {spec.run_id} was pruned after rung {admission.rung}", file=sys.stderr)
        return None
    attempt = markers.previous_attempts(run) + 1
    started = markers.mark_started(run, attempt)
    t_start = time.time()
    if spec.training.threads:
        torch.set_num_threads(spec.training.threads)
    torch.manual_seed(spec.seed)
    device = _device(spec.training.device)
    data_synthetic = ensure_data(spec.dataset, spec.data.model_dump(mode="json"))
    encoder_path = None
    if spec.depends_on:
        encoder_path = run.sibling(spec.depends_on).encoder
    task = build_task(spec, device, encoder_path)
    characteristics = model_characteristics(task.model, task.example_input)
    # What the offline estimators need besides the model (energybench.estimate.features).
    characteristics.update(n_train_samples=task.n_train, n_val_samples=task.n_val,
                           input_size=int(task.example_input[0].numel()),
                           loader=task.loader, loader_workers=task.loader_workers,
                           input_shape=list(task.example_input.shape[1:]))

    meter = open_meter(spec.meter.kind, tdp_w=spec.meter.tdp_w, device=device.type)
    writer = SampleShardWriter(run, attempt)
    progress: dict[str, Any] = {"attempt": attempt, "epoch": 0}

    def sink(batch: Any) -> None:
        writer.write(batch)
        markers.heartbeat(run, **progress)

    def on_epoch(**p: Any) -> None:
        progress.update(p)
        markers.heartbeat(run, **progress)

    sampler = Sampler(meter, run_id=spec.run_id, attempt=attempt, period_s=spec.meter.period_s,
                      flush_s=spec.meter.flush_s, sink=sink)
    idle_power_w, idle_domain_w = None, {}
    counter_period_s = meter.info().get("counter_period_s")
    try:
        sampler.start()
        if spec.meter.idle_s > 0:
            sampler.begin(0, "idle")
            time.sleep(spec.meter.idle_s)
            sampler.begin(0, "checkpoint")
            idle = sampler.stats(0, ("idle",))
            if idle is not None and idle.samples >= 2 and idle.end_s > idle.start_s:
                energy = idle.energy_j()
                idle_power_w = energy / (idle.end_s - idle.start_s) if energy is not None else idle.mean_power_w
                idle_domain_w = idle_powers(idle)
        result = run_epochs(spec, run, attempt, task, sampler, device, idle_power_w, on_epoch,
                            stop_requested=STOP, energy_rule=energy_rule, idle_domain_w=idle_domain_w,
                            counter_period_s=counter_period_s,
                            until_epoch=admission.until_epoch if admission is not None else None)
        if spec.paradigm == "pamap2-autoencoder":
            task.save_artifacts(run.encoder)
    finally:
        sampler.stop()
        meter.close()
    writer.compact()
    meter_info = meter.info()
    record = {
        **spec.to_dict(), "status": State.COMPLETED, "attempt": attempt, "attempts": attempt,
        "epochs": result.epochs, "stop_reason": PAUSED if result.paused else result.stop_reason,
        "threshold_epoch": result.threshold_epoch, "best_val_accuracy": result.best_val_accuracy,
        "resumed_from_epoch": result.resumed_from_epoch, "energy_budget": result.energy_budget,
        "idle_power_w": idle_power_w, **{f"idle_{d}_power_w": w for d, w in idle_domain_w.items()},
        "meter": meter.kind, "energy_domains": meter_info.get("energy_domains"),
        "cpu_attribution": meter_info.get("cpu_attribution"), "counter_period_s": counter_period_s,
        "host_mem_gb": host_memory_gb(), "meter_errors": list(sampler.errors), "data_synthetic": data_synthetic,
        "attempt_wall_s": time.time() - t_start, "started": started,
        "provenance": _provenance(device, meter_info, spec), **characteristics,
    }
    if result.paused and gate is not None and admission is not None:
        record["status"] = State.PENDING
        write_json(run.record, record)
        gate.paused(admission.rung, result.epochs, attempt)
        return record
    write_json(run.record, record)
    markers.mark_done(run, attempt=attempt, epochs=result.epochs)
    return record


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
         rung_gate: RungGateFactory | None = None) -> int:
    """Execute one run; 0 on success (or a pause at a search rung's end, or pruned), 1 on failure
    (recorded in ``failed.json``), :data:`REQUEUE` on request.

    ``energy_rule`` is the extra stopping rule each run gets (the energy budget); ``rung_gate``
    successive halving's gate (the search); None: none.
    """
    run = RunPaths(Path(run_dir).absolute())
    if not run.spec.exists():
        print(f"energybench worker: {run.spec}: no run spec here", file=sys.stderr)
        return 2
    try:
        execute(run, energy_rule, rung_gate)
        return 0
    except Interrupted as exc:
        markers.heartbeat(run, attempt=markers.previous_attempts(run), epoch=exc.epoch, interrupted=True)
        print(f"energybench worker: run {run.dir.name} {exc}; requeue to resume", file=sys.stderr)
        return REQUEUE
    except EnergybenchError as exc:
        reason = str(exc)
    except Exception as exc:  # a bug or a crash: keep the traceback in the log
        traceback.print_exc()
        reason = f"{type(exc).__name__}: {exc}"
    except KeyboardInterrupt:
        reason = "interrupted"
    reason = reason.splitlines()[0] if reason else "unknown error"
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
