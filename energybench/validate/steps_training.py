"""Steps about training: the sampler's cost on a GPU training loop, the study's energy by batch
size on generated data, and the worker's throughput against a bare loop."""

from __future__ import annotations

import csv
import random
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..bench import worker_overhead as wo
from ..bench.sampler_overhead import MIN_ROUNDS, TARGETS
from ..bench.stats import paired_ratio, verdict
from .context import Context, SkipStep, Step
from .profiles import Profile
from .report import StepResult
from .steps_power import RATES_HZ


def _status(judged: str) -> str:
    """A benchmark verdict (:func:`energybench.bench.stats.verdict`) as a report status."""
    return {"met": "PASS", "NOT met": "FAIL"}.get(judged, "UNRESOLVED")


def _sampler(meter: Any, rate_hz: float) -> Any:
    from ..meter.sampler import Sampler

    return Sampler(meter, run_id="validate", attempt=1, period_s=1.0 / rate_hz, flush_s=1.0, sink=lambda _b: None)


#: Sampler modes that exist: name -> a sampler of a meter at a rate (Hz). The in-process
#: thread is the only one today; another mode is one more line, and is measured like it.
SAMPLER_MODES: dict[str, Callable[[Any, float], Any]] = {"thread": _sampler}


def _meter_kind(ctx: Context) -> str:
    """"nvml" where the probe opened the NVML meter, else "auto" (the figures then say which meter ran)."""
    p = ctx.shared.get("probe")
    return "nvml" if p is not None and p.meter_sources is not None else "auto"


# ------------------------------------------------------------------ sampler overhead

def run_sampler_overhead(ctx: Context, res: StepResult) -> None:
    import torch
    import torch.nn.functional as F

    from ..meter import open_meter
    from ..worker.models import Pamap2Classifier

    prof = ctx.profile
    dev = torch.device(prof.device)
    torch.manual_seed(0)
    model = Pamap2Classifier(in_channels=28).to(dev)
    x = torch.randn(prof.overhead_batch_size, 28, 256, device=dev)
    y = torch.randint(0, 12, (prof.overhead_batch_size,), device=dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    def steps(n: int) -> float:
        sync()
        t0 = time.perf_counter()
        for _ in range(n):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            opt.step()
        sync()
        return time.perf_counter() - t0

    steps(10)  # warm-up
    n = max(2, round(prof.overhead_block_s / (steps(10) / 10)))
    meter = open_meter(_meter_kind(ctx), device=prof.device, log=lambda _: None)
    res.figures["meter"] = meter.kind
    modes: list[Any] = ["off", "A/A", *((m, hz) for m in SAMPLER_MODES for hz in RATES_HZ)]
    rounds: dict[Any, list[list[float]]] = {m: [] for m in modes}
    readings: dict[Any, list[int]] = {m: [] for m in modes}  # per round
    rng = random.Random(0)
    t_end = time.monotonic() + min(prof.overhead_s, ctx.left_s() - 3.0)
    round_s = block_s = 0.0
    try:
        while len(rounds["off"]) < 3 or time.monotonic() + round_s < t_end:
            t_round = time.monotonic()
            order = modes[:]
            rng.shuffle(order)
            for m in order:
                if time.monotonic() + 2 * block_s > ctx.deadline_mono - 1.0:  # a slow machine: stop in time
                    break
                t_block = time.monotonic()
                if isinstance(m, str):
                    rounds[m].append([steps(n) / n])
                    block_s = max(block_s, time.monotonic() - t_block)
                    continue
                s = SAMPLER_MODES[m[0]](meter, m[1])
                s.start()
                s.begin(1, "train")
                try:
                    rounds[m].append([steps(n) / n])
                finally:
                    s.stop()
                readings[m].append(s.rows_flushed)
                block_s = max(block_s, time.monotonic() - t_block)
            else:
                round_s = time.monotonic() - t_round
                continue
            break  # the deadline came mid-round
    finally:
        meter.close()
    k = min(len(r) for r in rounds.values())  # a round the deadline cut short does not count
    rounds = {m: r[:k] for m, r in rounds.items()}
    if not k:
        raise RuntimeError("no complete round within the step's budget")
    label = {m: m if isinstance(m, str) else f"{m[0]} {m[1]:g} Hz" for m in modes}
    res.tables["rounds"] = pa.table({
        "round": [i for m in modes for i in range(len(rounds[m]))],
        "mode": [label[m] for m in modes for _ in rounds[m]],
        "step_s": [r[0] for m in modes for r in rounds[m]]})
    res.figures.update(rounds=k, steps_per_block=n, batch_size=prof.overhead_batch_size,
                       median_step_off_s=statistics.median(r[0] for r in rounds["off"]))
    aa, aa_lo, aa_hi = paired_ratio(rounds["A/A"], rounds["off"])
    res.figures["aa_ratio"] = [aa, aa_lo, aa_hi]
    res.verdict("sampler-overhead.aa", "INFO", f"A/A control (no sampler twice): {aa:.4f} [{aa_lo:.4f}, "
                f"{aa_hi:.4f}], the noise floor of {k} rounds")
    for m in modes[2:]:
        ratio, lo, hi = paired_ratio(rounds[m], rounds["off"])
        res.figures[f"{m[0]}_{m[1]:g}hz_ratio"] = [ratio, lo, hi]
        res.figures[f"{m[0]}_{m[1]:g}hz_readings_per_s"] = sum(readings[m][:k]) / (n * sum(r[0] for r in rounds[m]))
        text = (f"{m[0]} sampler ({meter.kind} meter) at {m[1]:g} Hz on a PAMAP2 training loop ({prof.device}, batch "
                f"{prof.overhead_batch_size}): median step-time ratio {ratio:.4f} [{lo:.4f}, {hi:.4f}] "
                f"(95 %), {k} interleaved rounds")
        target = f"<= {TARGETS[m[1]]:g}"
        if k < MIN_ROUNDS:
            res.verdict(f"sampler-overhead.{m[0]}.{m[1]:g}hz", "UNRESOLVED",
                        text + f"; no verdict from fewer than {MIN_ROUNDS} rounds", target)
        else:
            res.verdict(f"sampler-overhead.{m[0]}.{m[1]:g}hz", _status(verdict(lo, hi, TARGETS[m[1]])), text, target)


def checks_sampler_overhead(profile: Profile) -> list[str]:
    return ["sampler-overhead.aa"] + [f"sampler-overhead.{m}.{hz:g}hz" for m in SAMPLER_MODES for hz in RATES_HZ]


# ------------------------------------------------------------------ the study's behaviour

@dataclass(frozen=True)
class StudyCase:
    """One kind of the study's runs: a paradigm on one form of its dataset."""

    name: str  # check id part
    paradigm: str
    dataset: str
    data: dict[str, Any]  # data-section keys besides the path


def study_cases(profile: Profile) -> list[StudyCase]:
    """PAMAP2 baseline, and CelebA identity at each of the profile's image sizes (a side, or "native")."""
    from ..workloads.registry import headlines

    pamap2, celeba = headlines()["pamap2"], headlines()["celeba"]
    return [StudyCase(pamap2, pamap2, "pamap2", {}),
            *(StudyCase(f"{celeba}-{px}px" if isinstance(px, int) else f"{celeba}-{px}",
                        celeba, "celeba",
                        {"image_size_px": px, "identities": profile.celeba_identities, "weights": "none"})
              for px in profile.celeba_image_sizes_px)]


def pipelines() -> dict[str, dict[str, Any]]:
    """The worker's input pipelines (config ``data.loader``), as config overrides: every one the config knows."""
    from ..config import LOADERS

    return {name: {"data": {"loader": name}} for name in LOADERS}


#: The published matrix of energy per epoch by batch size on a GPU (workshop Table 2a/2b).
REFERENCE_CSV = Path(__file__).resolve().parents[2] / "results" / "reference" / "energy_per_epoch.csv"
REFERENCE_HARDWARE = "rtx6000ada"
#: Energy ratios to the smallest batch within +-this are "about the same" when shapes are compared.
SHAPE_TOLERANCE = 0.15


def published_curve(paradigm: str, path: Path = REFERENCE_CSV,
                    hardware: str = REFERENCE_HARDWARE) -> dict[int, float]:
    """Published energy per epoch (mWh) by batch size, mean over the learning rates."""
    by_bs: dict[int, list[float]] = {}
    if not path.exists():
        return {}
    with path.open() as f:
        for row in csv.DictReader(f):
            if row["paradigm"] == paradigm and row["hardware"] == hardware:
                by_bs.setdefault(int(row["batch_size"]), []).append(float(row["epoch_energy_mwh"]))
    return {bs: statistics.fmean(v) for bs, v in sorted(by_bs.items())}


def shape(curve: dict[int, float]) -> dict[int, str]:
    """Each batch size's energy relative to the smallest batch: "lower", "same" or "higher"."""
    first = curve[min(curve)]
    out = {}
    for bs, e in curve.items():
        r = e / first if first else float("nan")
        out[bs] = "lower" if r < 1 - SHAPE_TOLERANCE else ("higher" if r > 1 + SHAPE_TOLERANCE else "same")
    return out


def _spec(ctx: Context, case: StudyCase, pipeline: str, batch_size: int, data_path: str) -> Any:
    from ..config import parse_config
    from ..plan import plan

    cpu = ctx.profile.device == "cpu"
    cfg: dict[str, Any] = {
        "name": "validate", "grid": {"batch_sizes": [batch_size], "learning_rates": [0.001]},
        "paradigms": [case.paradigm], "hardware": ["validate"],
        "early_stopping": {"threshold": 1.0, "patience_epochs": 1000, "max_epochs": ctx.profile.study_epochs},
        "training": {"device": ctx.profile.device, **({"threads": 1} if cpu else {})},
        "data": {case.dataset: {"path": data_path, **case.data}},
        "meter": {"kind": "nvml", "period_s": 0.1, "flush_s": 5.0, "idle_s": 0},
    }
    if pipeline == "dataloader" and ctx.profile.loader_workers is not None:
        cfg["data"]["loader_workers"] = ctx.profile.loader_workers
    for section, values in pipelines()[pipeline].items():
        cfg[section] = {**cfg.get(section, {}), **values}
    return plan(parse_config(cfg, ctx.paths.dir / "validate.yaml"))[0]


def run_study(ctx: Context, res: StepResult) -> None:
    job = ctx.shared.get("data")
    if job is None:
        raise SkipStep("the study's data were not generated")
    if _meter_kind(ctx) != "nvml":
        raise SkipStep("the NVML meter does not open here (see the nvml checks): no GPU energy to compare")
    datasets = job.wait(ctx.deadline_mono - 5.0)
    res.figures["data_generation_s"] = job.seconds
    rows: list[dict[str, Any]] = []
    measured: dict[tuple[str, str], dict[int, float]] = {}
    why_not: dict[tuple[str, str], str] = {}  # what kept a curve incomplete
    # Case by case (the loaders keep two datasets in memory), each pipeline, each batch size.
    for case in study_cases(ctx.profile):
        for pipeline in pipelines():
            key = (case.name, pipeline)
            curve = measured.setdefault(key, {})
            for bs in ctx.profile.study_batch_sizes:
                if ctx.left_s() < 3.0:
                    why_not.setdefault(key, f"SKIP: the step's budget was spent before batch {bs}")
                    continue
                try:
                    epochs = _study_run(ctx, res, case, pipeline, bs, datasets[case.dataset])
                except Exception as exc:  # one run failing (e.g. out of memory) does not end the others
                    ctx.log.write(f"--- study run {case.name} {pipeline} batch {bs} failed: {exc!r}\n")
                    why_not.setdefault(key, f"ERROR: batch {bs} failed: {type(exc).__name__}: "
                                            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}")
                    continue
                rows += [{"case": case.name, "pipeline": pipeline, "batch_size": bs, **e} for e in epochs]
                steady = [e for e in epochs if e["epoch"] > 1] or epochs  # epoch 1 pays the warm-up
                energies = [e["energy_j"] for e in steady if e["energy_j"] is not None]
                if energies:
                    curve[bs] = statistics.median(energies)
                name = f"{case.name}.{pipeline}.b{bs}"
                res.figures[f"{name}.energy_per_epoch_j"] = curve.get(bs)
                res.figures[f"{name}.epoch_s"] = statistics.median(e["duration_s"] for e in steady)
    if rows:
        res.tables["epochs"] = pa.Table.from_pylist(rows)
    for case in study_cases(ctx.profile):
        published = published_curve(case.paradigm)
        for pipeline in pipelines():
            key = (case.name, pipeline)
            _judge_shape(res, case, pipeline, measured.get(key, {}), published, ctx.profile.study_batch_sizes,
                         why_not.get(key))


def _study_run(ctx: Context, res: StepResult, case: StudyCase, pipeline: str, bs: int,
               data_path: str) -> list[dict[str, Any]]:
    """One run through the worker (``worker.entry.execute``); its epoch rows."""
    from ..launch import workload_for
    from ..paths import RunPaths, write_json
    from ..worker.entry import execute

    spec = _spec(ctx, case, pipeline, bs, data_path)
    run = RunPaths(ctx.paths.run(f"{case.name}-{pipeline}-b{bs}"))
    write_json(run.spec, spec.to_dict())
    t0 = time.perf_counter()
    try:
        execute(run, workload_for=workload_for)
    finally:
        run.checkpoint.unlink(missing_ok=True)  # tens of MB for ResNet18; not a measurement
    res.figures[f"{case.name}.{pipeline}.b{bs}.run_wall_s"] = time.perf_counter() - t0
    return pq.read_table(run.epochs(1)).to_pylist()


def _judge_shape(res: StepResult, case: StudyCase, pipeline: str, curve: dict[int, float],
                 published: dict[int, float], batch_sizes: tuple[int, ...], why_not: str | None) -> None:
    check = f"study.{case.name}.{pipeline}"
    if set(curve) != set(batch_sizes):
        missing = ", ".join(str(b) for b in batch_sizes if b not in curve)
        status, _, reason = (why_not or f"ERROR: no energy per epoch at batch {missing}").partition(": ")
        res.verdict(check, status, reason)
        return
    first = curve[min(curve)]
    ours = ", ".join(f"{bs}: {e:.3g} J ({e / first:.2f})" for bs, e in curve.items())
    if not published:
        res.verdict(check, "INFO", f"energy per epoch by batch size (ratio to batch {min(curve)}): {ours}; "
                    "no published matrix to compare with")
        return
    pub_first = published[min(curve)] if min(curve) in published else published[min(published)]
    theirs = ", ".join(f"{bs}: {published[bs] / pub_first:.2f}" for bs in curve if bs in published)
    pub_shape = shape({bs: e for bs, e in published.items() if bs in curve or bs == min(curve)})
    agree = all(shape(curve)[bs] == pub_shape.get(bs, shape(curve)[bs]) for bs in curve)
    res.verdict(check, "PASS" if agree else "FAIL",
                f"{pipeline} pipeline: energy per epoch by batch size (ratio to batch {min(curve)}): {ours}; "
                f"published ({REFERENCE_HARDWARE}, mean over learning rates): {theirs}",
                f"the same shape: each ratio lower, about the same (+-{SHAPE_TOLERANCE:.0%}) or higher "
                f"as published; a different GPU can differ")


def checks_study(profile: Profile) -> list[str]:
    return [f"study.{c.name}.{p}" for c in study_cases(profile) for p in pipelines()]


# ------------------------------------------------------------------ worker vs bare loop

def run_worker(ctx: Context, res: StepResult) -> None:
    job = ctx.shared.get("data")
    if job is None:
        raise SkipStep("the study's data were not generated")
    datasets = job.wait(ctx.deadline_mono - 5.0)
    prof = ctx.profile
    sizes = prof.worker_batch_sizes
    rows = []
    for i, bs in enumerate(sizes):
        check = f"worker.b{bs}"
        share_s = ctx.left_s() / (len(sizes) - i)
        if share_s < 5.0:
            res.verdict(check, "SKIP", "the step's budget is spent")
            continue
        r = wo.worker_overhead(bs, seconds=min(prof.worker_s, share_s * 0.6), device=prof.device,
                               data_dir=Path(datasets["pamap2"]), meter_kind=_meter_kind(ctx),
                               threads=1 if prof.device == "cpu" else None, max_windows=prof.worker_max_windows,
                               deadline_mono=time.monotonic() + share_s - 1.0)
        for m, rounds in r["samples"].items():
            rows += [{"batch_size": bs, "mode": m, "round": j, "epoch_s": v}
                     for j, block in enumerate(rounds) for v in block]
        res.figures[f"b{bs}.rounds"] = r["rounds"]
        res.figures[f"b{bs}.train_windows"] = r["train_windows"]
        for m in wo.MODES:
            res.figures[f"b{bs}.{m.replace(' ', '_')}_epoch_s"] = r["epoch_s"][m]
        if "ratio" not in r:
            res.verdict(check, "ERROR", "no complete round")
            continue
        ratio, lo, hi = r["ratio"]
        aa, aa_lo, aa_hi = r["aa_ratio"]
        res.figures[f"b{bs}.ratio"] = [ratio, lo, hi]
        res.figures[f"b{bs}.aa_ratio"] = [aa, aa_lo, aa_hi]
        text = (f"worker / bare loop, {wo.WORKLOAD} batch {bs} ({prof.device}, {r['meter']} meter): "
                f"median epoch-time ratio "
                f"{ratio:.3f} [{lo:.3f}, {hi:.3f}] (95 %), A/A {aa:.3f} [{aa_lo:.3f}, {aa_hi:.3f}], "
                f"{r['rounds']} rounds; aim <= {wo.AIM:g}: {wo.judge(r, wo.AIM)}")
        res.verdict(check, _status(wo.judge(r, prof.worker_target)), text, f"<= {prof.worker_target:g}")
    if rows:
        res.tables["rounds"] = pa.Table.from_pylist(rows)


def checks_worker(profile: Profile) -> list[str]:
    return [f"worker.b{bs}" for bs in profile.worker_batch_sizes]


def remove_checkpoints(runs_dir: Path) -> None:
    """Drop checkpoints a failed study run left (they are not measurements, and large)."""
    for p in runs_dir.glob("*/checkpoint.pt"):
        p.unlink(missing_ok=True)
    for p in runs_dir.glob("*/*.tmp"):
        shutil.rmtree(p, ignore_errors=True)


STEPS = (
    Step("sampler-overhead", "The sampler's cost on a training loop", run_sampler_overhead,
         checks_sampler_overhead),
    Step("study", "The study's energy per epoch by batch size (generated data)", run_study, checks_study),
    Step("worker", "The worker against a bare loop", run_worker, checks_worker),
)
