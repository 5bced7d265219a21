"""The epoch loop: train, evaluate, measure, checkpoint, decide whether to stop.

Each epoch is ``train`` then ``eval`` (the study's epoch time); the sampler is
told each phase change, so an epoch's energy covers exactly those phases.
Checkpointing and bookkeeping that follow are tagged ``checkpoint`` and are
not part of the epoch's energy (they are still in the samples).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import torch

from ..paths import RunPaths
from ..meter.base import DOMAINS, MIN_COUNTER_PERIODS
from ..plan import RunSpec
from ..schema import EPOCH_SCHEMA
from ..shards import write_table
from ..stopping import ThresholdEarlyStopping
from .checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .rules import EnergyRuleFactory
from .signals import Interrupted


@dataclass
class LoopResult:
    """What the loop tells the run record."""

    epochs: int
    stop_reason: str | None
    threshold_epoch: int | None
    best_val_accuracy: float | None
    resumed_from_epoch: int
    energy_budget: dict[str, Any] | None = None  # the energy rule's stopping decision, if it stopped the run
    paused: bool = False  # stopped at ``until_epoch`` (the end of a search rung), checkpointed, not finished


def _no_guard() -> None:
    pass


def make_optimizer(spec: RunSpec, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """The study's constant-learning-rate optimiser (Adam by default, no schedule)."""
    t = spec.training
    if t.optimizer == "sgd":
        return torch.optim.SGD(params, lr=spec.learning_rate, momentum=t.momentum, weight_decay=t.weight_decay)
    return torch.optim.Adam(params, lr=spec.learning_rate, weight_decay=t.weight_decay)


def epoch_row(spec: RunSpec, attempt: int, epoch: int, start_s: float, duration_s: float,
              stats: Any, idle_power_w: float | None, train_loss: float | None,
              val_loss: float | None, val_accuracy: float | None,
              idle_domain_w: dict[str, float] | None = None, counter_period_s: float | None = None) -> dict[str, Any]:
    """One row of ``epochs``: energy both ways (authoritative and eq. 1), per domain, and metrics.

    ``idle_domain_w`` is each domain's idle power (watts) for the net columns;
    ``counter_period_s`` the GPU energy counter's update period (flags short epochs).
    """
    samples = stats.samples if stats is not None else 0
    mean_power_w = stats.mean_power_w if stats is not None else None
    energy_j = stats.energy_j() if stats is not None else None
    eq1_j = mean_power_w * duration_s if mean_power_w is not None else None
    span_s = (stats.end_s - stats.start_s) if stats is not None else 0.0
    net_j = (energy_j - idle_power_w * duration_s) if (energy_j is not None and idle_power_w is not None) else None
    return {
        "run_id": spec.run_id, "attempt": attempt, "epoch": epoch, "start_s": start_s,
        "duration_s": duration_s, "energy_j": energy_j, "energy_eq1_j": eq1_j,
        "mean_power_w": mean_power_w, "samples": samples,
        "coverage_frac": min(1.0, span_s / duration_s) if duration_s > 0 else 0.0,
        "low_samples": samples < 2, "net_energy_j": net_j, "train_loss": train_loss,
        "val_loss": val_loss, "val_accuracy": val_accuracy,
        **domain_columns(getattr(stats, "domains", None) or {}, duration_s, idle_domain_w or {}),
        "short_for_counter": duration_s < MIN_COUNTER_PERIODS * counter_period_s if counter_period_s else None,
    }


def domain_columns(domains: dict[str, Any], duration_s: float, idle_w: dict[str, float]) -> dict[str, Any]:
    """The per-domain columns of an epoch row: energy, mean power and net energy of gpu, cpu, dram."""
    out: dict[str, Any] = {}
    for d in DOMAINS:
        st = domains.get(d)
        e_j = st.energy_j() if st is not None else None
        out[f"{d}_energy_j"] = e_j
        out[f"{d}_mean_power_w"] = st.mean_power_w if st is not None else None
        out[f"net_{d}_energy_j"] = e_j - idle_w[d] * duration_s if e_j is not None and d in idle_w else None
    out["energy_domains"] = "+".join(d for d in DOMAINS if d in domains) or None
    return out


def run_epochs(spec: RunSpec, run: RunPaths, attempt: int, task: Any, sampler: Any,
               device: torch.device, idle_power_w: float | None,
               progress: Callable[..., None], stop_requested: threading.Event | None = None,
               energy_rule: EnergyRuleFactory | None = None, idle_domain_w: dict[str, float] | None = None,
               counter_period_s: float | None = None, until_epoch: int | None = None,
               guard: Callable[[], None] | None = None) -> LoopResult:
    """Train ``task`` until early stopping, resuming from the run's checkpoint if any.

    When ``stop_requested`` is set (a signal), the loop raises :class:`Interrupted` at the
    next step: the epoch in progress is dropped (not written, not
    checkpointed) and the next attempt trains it again from the checkpoint.
    ``energy_rule`` builds this run's extra stopping rule (the energy budget), asked
    after every epoch of an accuracy-monitored run. ``until_epoch`` (a search rung's end) pauses
    the loop after that epoch: the result says ``paused``, the checkpoint is the resume point.
    ``guard`` is called at every step and before every write; it raises to stop the loop at once
    (the worker's lease, :mod:`.lease`).
    """
    guard = guard if guard is not None else _no_guard
    stop_requested = stop_requested if stop_requested is not None else threading.Event()
    es = spec.early_stopping
    stopper = ThresholdEarlyStopping(monitor=task.monitor, threshold=es.threshold,
                                     patience_epochs=es.patience_epochs,
                                     max_epochs=es.max_epochs, min_delta=es.min_delta)
    optimizer = make_optimizer(spec, task.parameters_to_train())
    generator = torch.Generator(device="cpu").manual_seed(spec.seed)
    start_epoch = 0
    ckpt = load_checkpoint(run.checkpoint)
    if ckpt is not None:
        task.model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        stopper = ThresholdEarlyStopping.from_state(ckpt["stopper"])
        set_rng_state(ckpt["rng"], generator)
        start_epoch = int(ckpt["epoch"])
    cuda = device.type == "cuda"
    rows: list[dict[str, Any]] = []
    energy_so_far_j = 0.0
    rule = energy_rule(spec, run, attempt, start_epoch) \
        if energy_rule is not None and task.monitor == "val_accuracy" else None
    decision = None

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(device)

    stop = stopper.stop_reason is not None
    epoch = start_epoch
    while not stop:
        if until_epoch is not None and epoch >= until_epoch:
            return LoopResult(epochs=stopper.epoch, stop_reason=None, threshold_epoch=stopper.threshold_epoch,
                              best_val_accuracy=stopper.best if task.monitor == "val_accuracy" else None,
                              resumed_from_epoch=start_epoch, paused=True)
        if stop_requested.is_set():
            raise Interrupted(epoch)
        epoch += 1
        sync()
        start_s = time.time()
        t0 = time.perf_counter()
        sampler.begin(epoch, "train")
        task.set_train_mode()
        loss_sum = torch.zeros((), device=device)
        steps = 0
        for x, y in task.train_batches(spec.batch_size, generator):
            if stop_requested.is_set():  # one attribute read per step: the hot path stays cheap
                raise Interrupted(epoch - 1)
            guard()
            optimizer.zero_grad(set_to_none=True)
            loss = task.loss(x, y)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach()
            steps += 1
        sync()
        sampler.begin(epoch, "eval")
        val_loss, val_acc = task.evaluate(spec.batch_size)
        sync()
        sampler.begin(epoch, "checkpoint")
        duration_s = time.perf_counter() - t0
        train_loss = float(loss_sum.item() / max(steps, 1))
        stats = sampler.stats(epoch)
        rows.append(epoch_row(spec, attempt, epoch, start_s, duration_s, stats, idle_power_w,
                              train_loss, val_loss, val_acc, idle_domain_w, counter_period_s))
        guard()
        write_table(run.epochs(attempt), pa.Table.from_pylist(rows, schema=EPOCH_SCHEMA), EPOCH_SCHEMA)
        stop = stopper.update(val_acc if task.monitor == "val_accuracy" else val_loss)
        if rule is not None and not stop:
            check = rule.after_epoch(rows[-1]["energy_j"] or 0.0, val_acc)
            if check is not None and check.stop:
                stopper.stop_reason, stop, decision = rule.stop_reason, True, check.to_dict()
                print(f"energybench worker: run {spec.run_id} stopped after epoch {epoch}: {check.reason}",
                      file=sys.stderr)
        guard()
        save_checkpoint(run.checkpoint, model=task.model.state_dict(), optimizer=optimizer.state_dict(),
                        stopper=stopper.state_dict(), rng=rng_state(generator), epoch=epoch,
                        attempt=attempt)
        energy_so_far_j += rows[-1]["energy_j"] or 0.0
        progress(epoch=epoch, val_accuracy=val_acc, val_loss=val_loss,
                 energy_j_this_attempt=energy_so_far_j, attempt=attempt)
    return LoopResult(epochs=stopper.epoch, stop_reason=stopper.stop_reason,
                      threshold_epoch=stopper.threshold_epoch,
                      best_val_accuracy=stopper.best if task.monitor == "val_accuracy" else None,
                      resumed_from_epoch=start_epoch, energy_budget=decision)
