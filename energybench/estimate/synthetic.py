"""A synthetic dataset with known true energy: every planned run of a config, simulated.

``python -m energybench.estimate.synthetic CONFIG OUT`` plans CONFIG (e.g.
``configs/paper.yaml``: 672 runs) and writes ``OUT/plan.json`` and
``OUT/dataset/`` in the dataset contract, as ``collect`` would, labelled
``meter = synthetic`` and ``data_synthetic = true``. No training happens:
each epoch's time, power and validation accuracy come from the model below,
so every run's true energy is exactly its ``energy_j``. It exists to test the
estimators (``energybench estimate fit/evaluate OUT``), not to stand in for
measurements.

The model (deterministic per run id; plausible, not fitted to any GPU):

* workloads: the study's models at the paper's settings (parameters and
  MACs as energybench's models count them), PAMAP2 about 11,500 training
  and 1,900 validation windows, CelebA's 40 most frequent identities about
  990 training and 124 validation images;
* time per step = launch overhead + cost x MACs x batch / (throughput x
  occupancy), occupancy = b / (b + b_half) with b_half growing with the
  GPU's cores (big GPUs need big batches), cost 3 for a training step
  (1 + the trainable share x 2 with a frozen encoder), 1 for evaluation;
* power = idle + (0.95 TDP - idle) x kernel-active fraction x occupancy^0.6:
  small batches keep the GPU busy (high NVML utilisation) at low power;
* warm-up: power ramps up (-20 % at epoch 1, time constant 1.5 to 4 epochs),
  epoch 1 is 80 % slower; then a slow thermal drift (+1 %, 5 minutes); per
  run factors of +-2 % on power and time, per-epoch noise 1.5 % and 1 %;
* accuracy: a saturating curve whose asymptote and speed depend on
  paradigm, learning rate and batch size (learning rate 0.1 levels off
  below the threshold but is noisy enough to cross it by chance), plus
  noise; the autoencoder's loss decays; stopping is energybench's own
  threshold early stopping.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..config import load_config
from ..errors import EstimateError
from ..paths import DatasetPaths, ResultsLayout, write_json
from ..hashing import stable_hash
from ..plan import plan
from ..planfile import write_plan
from ..schema import EPOCH_SCHEMA, RUN_SCHEMA, SAMPLE_SCHEMA, describe
from ..shards import write_table
from ..states import State
from ..stopping import ThresholdEarlyStopping
from ..workloads import registry
from ..workloads.base import SyntheticProfile
from .gpus import lookup


def profiles() -> dict[str, SyntheticProfile]:
    """Workload name -> what the generator simulates for it (the workloads that declare a profile)."""
    return {n: w.synthetic for n, w in registry.known().items() if w.synthetic is not None}


#: Effective MAC throughput per CUDA core (MAC/s) relative to an A100's, and the driver names.
ARCH = {"h100-sxm": (1.3, "NVIDIA H100 80GB HBM3"), "a100-sxm-40gb": (1.0, "NVIDIA A100-SXM4-40GB"),
        "rtx3090": (0.55, "NVIDIA GeForce RTX 3090")}
MACS_PER_CORE_S = 1.3e9
EPOCH_HOST_S = 0.15  # per-epoch bookkeeping (permutation, metrics), seconds


def _lr_effect(lr: float) -> tuple[float, float, float]:
    """(asymptote penalty, speed factor on tau, noise) of a constant Adam learning rate."""
    if lr >= 0.05:
        return 0.12, 0.6, 0.03
    if lr >= 0.005:
        return 0.02, 0.7, 0.012
    if lr >= 0.0005:
        return 0.0, 1.0, 0.008
    return 0.0, 5.0, 0.006


def simulate(spec: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """(runs row, epochs rows, samples rows) of one planned run."""
    paradigm, hw = spec["paradigm"], spec["hardware"]
    w = profiles().get(paradigm)
    if w is None:
        raise EstimateError(f"workload {paradigm!r}: the synthetic generator simulates workloads with a synthetic "
                            f"profile only ({', '.join(profiles())})")
    monitor = registry.resolve(paradigm).monitor
    gpu = lookup(hw)
    if gpu is None or gpu.cuda_cores == 0:
        raise EstimateError(f"hardware {hw!r}: the synthetic generator simulates known GPUs only (e.g. h100, a100, rtx3090)")
    arch, driver_name = ARCH.get(gpu.name, (1.0, gpu.name))
    rng = np.random.default_rng(int(stable_hash(["synthetic", spec["run_id"]], 8), 16))
    b, lr = int(spec["batch_size"]), float(spec["learning_rate"])
    es = spec["early_stopping"]
    throughput = gpu.cuda_cores * MACS_PER_CORE_S * arch
    occupancy = b / (b + w.b_half * gpu.cuda_cores / 10_000)
    train_cost = w.train_cost if w.train_cost is not None else 1 + 2 * w.params_trainable / w.params_total
    idle_w = 0.1 * gpu.tdp_w

    def step(batch: int, cost: float, overhead_s: float) -> tuple[float, float]:
        compute = cost * w.macs_per_sample * batch / (throughput * occupancy)
        return overhead_s + compute, (compute + 0.4 * overhead_s) / (overhead_s + compute)

    steps_train, steps_val = math.ceil(w.n_train / b), math.ceil(w.n_val / b)
    t_train, busy_train = step(min(b, w.n_train), train_cost, w.overhead_s)
    t_val, busy_val = step(min(b, w.n_val), 1.0, 0.5 * w.overhead_s)
    epoch_s = steps_train * t_train + steps_val * t_val + EPOCH_HOST_S
    busy = (steps_train * t_train * busy_train + steps_val * t_val * busy_val) / epoch_s
    power_w = idle_w + (0.95 * gpu.tdp_w - idle_w) * busy * occupancy ** 0.6
    run_power, run_time = rng.normal(1, 0.02), rng.normal(1, 0.02)
    warm_tau = rng.uniform(1.5, 4.0)

    penalty, speed, noise = _lr_effect(lr)
    tau = w.tau_epochs * speed * math.sqrt(b / 256) * math.exp(rng.normal(0, 0.1))
    accuracy_monitored = monitor == "val_accuracy"
    top = w.best - penalty + rng.normal(0, 0.01) if accuracy_monitored else w.best
    stopper = ThresholdEarlyStopping(monitor="val_accuracy" if accuracy_monitored else "val_loss",
                                     threshold=es["threshold"], patience_epochs=es["patience_epochs"],
                                     max_epochs=es["max_epochs"], min_delta=es.get("min_delta", 0.0))
    t0 = 1_750_000_000.0 + rng.uniform(0, 1e6)
    elapsed, epochs, samples = 0.0, [], []
    while True:
        e = stopper.epoch + 1
        d = epoch_s * run_time * (1.8 if e == 1 else 1.0) * rng.normal(1, 0.01)
        p = (power_w * run_power * (1 - 0.2 * math.exp(-(e - 1) / warm_tau))
             * (1 + 0.01 * (1 - math.exp(-elapsed / 300))) * rng.normal(1, 0.015))
        value = top - (top - w.start) * math.exp(-e / tau) + rng.normal(0, noise if accuracy_monitored else 0.004)
        value = min(max(value, 0.0), 1.0) if accuracy_monitored else max(value, 0.0)
        start = t0 + elapsed
        epochs.append({"run_id": spec["run_id"], "attempt": 1, "epoch": e, "start_s": start, "duration_s": d,
                       "energy_j": p * d, "energy_eq1_j": p * d, "mean_power_w": p, "samples": 3,
                       "coverage_frac": 1.0, "low_samples": False, "net_energy_j": (p - idle_w) * d,
                       "train_loss": None, "val_loss": None if accuracy_monitored else value,
                       "val_accuracy": value if accuracy_monitored else None})
        for k, (frac, phase) in enumerate(((0.0, "train"), (0.9, "eval"), (1.0, "checkpoint"))):
            samples.append({"run_id": spec["run_id"], "attempt": 1, "time_s": start + frac * d, "epoch": e,
                            "phase": phase, "power_w": p, "energy_j": None, "meter": "synthetic",
                            "gpu_util_pct": float(min(100.0, 100 * busy * rng.normal(1, 0.03))),
                            "mem_used_mib": 2000.0 + b * w.input_size * 4 * 6 / 2 ** 20,
                            "temperature_c": 40 + 30 * p / gpu.tdp_w, "sm_clock_mhz": 1500.0})
        elapsed += d
        if stopper.update(value):
            break
    accs = [r["val_accuracy"] for r in epochs if r["val_accuracy"] is not None]
    energy_j, duration_s = sum(r["energy_j"] for r in epochs), sum(r["duration_s"] for r in epochs)
    run = {
        **{k: spec[k] for k in ("run_id", "experiment", "dataset", "paradigm", "setup", "batch_size",
                                "learning_rate", "repeat", "hardware")},
        "meter": "synthetic", "status": State.COMPLETED.value, "epochs": len(epochs),
        "threshold_epoch": stopper.threshold_epoch, "stop_reason": stopper.stop_reason,
        "best_val_accuracy": max(accs) if accs else None, "duration_s": duration_s, "energy_j": energy_j,
        "idle_power_w": idle_w, "net_energy_j": energy_j - idle_w * duration_s, "attempts": 1,
        "device": "cuda", "host": "synthetic", "data_synthetic": True,
        "params_total": w.params_total, "params_trainable": w.params_trainable, "buffers_bytes": None,
        "model_size_bytes": None, "macs_per_sample": w.macs_per_sample, "n_train_samples": w.n_train,
        "n_val_samples": w.n_val, "input_size": w.input_size, "gpu_name": driver_name,
    }
    return run, epochs, samples


def generate(config: Path, out: Path) -> ResultsLayout:
    """Plan ``config`` and write ``out/plan.json`` and ``out/dataset/`` with every run simulated."""
    exp = load_config(config)
    planned = plan(exp)
    specs = [s.to_dict() for s in planned]
    layout = ResultsLayout(out)
    data = DatasetPaths(layout.dataset_dir)
    runs, epochs = [], []
    for spec in specs:
        run, ep, samples = simulate(spec)
        runs.append(run)
        epochs += ep
        part = data.samples_dir / f"hardware={spec['hardware']}" / f"dataset={spec['dataset']}"
        part.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(samples, schema=SAMPLE_SCHEMA), part / f"{spec['run_id']}.parquet",
                       compression="zstd")
    write_plan(layout, exp.name, planned, synthetic=True, run_specs=False)
    write_table(data.runs, pa.Table.from_pylist(sorted(runs, key=lambda r: r["run_id"]), schema=RUN_SCHEMA), RUN_SCHEMA)
    epochs.sort(key=lambda r: (r["run_id"], r["epoch"]))
    write_table(data.epochs, pa.Table.from_pylist(epochs, schema=EPOCH_SCHEMA), EPOCH_SCHEMA)
    write_json(data.schema, describe())
    return layout


def main(argv: list[str] | None = None) -> int:
    """``python -m energybench.estimate.synthetic CONFIG OUT``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m energybench.estimate.synthetic CONFIG OUT", file=sys.stderr)
        return 2
    layout = generate(Path(args[0]), Path(args[1]))
    print(f"synthetic dataset: {layout.dataset_dir}; next: energybench estimate evaluate {layout.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
