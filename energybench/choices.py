"""The choices the study leaves open, and what this results directory used: generated, not written.

The papers do not say which PAMAP2 channels, windows or split, which CelebA
split or image size, which optimiser, multitask weight and monitor, input
pipeline or sampling period they used (the workshop version states one-second
sampling). :func:`collect_choices` reads what a results directory actually
used from its planned run specs (the resolved config, ``plan.json``) and its
run records (``run.json``), and the fixed choices from the code that makes
them; :func:`choices_blocks` renders them for the report.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from .paths import ResultsLayout, read_json
from .planfile import load_plan
from .render import Block, Grid, Heading, Text
from .workloads import registry

CHOICES_TITLE = "Choices the study leaves open"


@dataclass(frozen=True)
class Choice:
    """One open choice: what the study says, what this directory used, and where that was read."""

    choice: str
    study: str
    used: str
    source: str


def _values(items: Iterable[Any]) -> str:
    seen: list[str] = []
    for v in items:
        text = "—" if v is None else (", ".join(map(str, v)) if isinstance(v, list) else str(v))
        if text not in seen:
            seen.append(text)
    return "; ".join(seen) if seen else "—"


def _image_size(v: Any) -> str:
    if v == "native":
        return "native (178 x 218 px, no crop, no resize)"
    if isinstance(v, list):
        return f"{v[0]} x {v[1]} px (height x width, resized, no crop)"
    return f"{v} x {v} px (centre crop to 178 x 178, resized)"


def collect_choices(specs: Sequence[Mapping[str, Any]], records: Sequence[Mapping[str, Any]]) -> list[Choice]:
    """The open choices of the planned runs ``specs`` (``plan.json``), with what their ``records`` (``run.json``) add."""
    from .worker.data import pamap2_choices, celeba_choices

    datasets = {s["dataset"] for s in specs}
    paradigms = {s["paradigm"] for s in specs}
    out: list[Choice] = []
    if "pamap2" in datasets:
        fixed = pamap2_choices()
        pam = [s["data"] for s in specs if s["dataset"] == "pamap2"]
        out += [
            Choice("PAMAP2 channels", "not stated", fixed["channels"], "code: energybench/worker/data/pamap2.py"),
            Choice("PAMAP2 windows", "not stated",
                   _values(f"{d['window_samples']} samples, hop {d['stride_samples']} (100 Hz)" for d in pam),
                   "config: data.pamap2.window_samples, stride_samples"),
            Choice("PAMAP2 split", "not stated", fixed["split"], "code: energybench/worker/data/pamap2.py"),
        ]
    if "celeba" in datasets:
        cel = [s["data"] for s in specs if s["dataset"] == "celeba"]
        out += [
            Choice("CelebA split", "the 40 most represented identities; split not stated",
                   _values(f"top {d['identities']} identities, {celeba_choices()['split']}" for d in cel),
                   "config: data.celeba.identities; code: energybench/worker/data/celeba.py"),
            Choice("CelebA image size", "the aligned images, 178 x 218 px (printed \"78 x 218\")",
                   _values(_image_size(d["image_size_px"]) for d in cel), "config: data.celeba.image_size_px"),
        ]
    training = [s["training"] for s in specs]
    out.append(Choice("Optimiser", "not stated (constant learning rate, no decay)",
                      _values(f"{t['optimizer']}" + (f", momentum {t['momentum']}" if t["optimizer"] == "sgd" else "")
                              + f", weight decay {t['weight_decay']}" for t in training),
                      "config: training.optimizer, momentum, weight_decay"))
    multitask = [w for n in sorted(paradigms) if (w := registry.get(n)) is not None and w.role == "multitask"]
    if multitask:
        out += [
            Choice("Multitask weight alpha", "a weight coefficient alpha; value not stated",
                   _values(f"{t['multitask_alpha']} (loss = alpha L_attr + (1 - alpha) L_id)" for t in training),
                   "config: training.multitask_alpha"),
            Choice("Multitask monitor", "validation accuracy; which task not stated",
                   f"identity top-1 accuracy ({multitask[0].monitor})",
                   "code: energybench/worker/tasks.py"),
        ]
    loaders = [(s.get("loader", "resident"), r.get("loader_workers")) for s, r in _joined(specs, records)]
    out.append(Choice("Input pipeline", "not stated (the text blames GPU idling at small batches)",
                      _values(f"{lo}" + (f", {w} workers" if lo == "dataloader" and w is not None else "")
                              for lo, w in loaders) if loaders else "—",
                      "config: data.loader; run.json: loader_workers"))
    out.append(Choice("Sampling period", "1 s (workshop: Carbontracker, one-second sampling)",
                      _values(f"{s['meter']['period_s']:g} s" for s in specs), "config: meter.period_s"))
    meters = [r.get("meter") for r in records if r.get("meter")]
    out.append(Choice("Meter", "Carbontracker (NVML power, GPU only); powermetrics on the M1 Max",
                      _values(sorted(set(meters))) if meters else "no run record yet",
                      "run.json: meter"))
    return out


def _joined(specs: Sequence[Mapping[str, Any]], records: Sequence[Mapping[str, Any]]) -> list[tuple[Any, Any]]:
    by_id = {r.get("run_id"): r for r in records}
    return [(s, by_id.get(s["run_id"], {})) for s in specs]


def read_choices(results_dir: Path) -> list[Choice] | None:
    """The choices of a results directory (``plan.json`` and every ``run.json``); None without a plan."""
    layout = ResultsLayout(Path(results_dir))
    if not layout.plan.is_file():
        return None
    specs = load_plan(layout)
    records = [read_json(run.record) for run in layout.run_dirs() if run.record.is_file()]
    return collect_choices(specs, records)


def choices_blocks(choices: Sequence[Choice] | None) -> list[Block]:
    """The report's section: what the study leaves open and what this directory used."""
    blocks: list[Block] = [Heading(CHOICES_TITLE, 2)]
    if choices is None:
        return blocks + [Text("No `plan.json` here: the choices of these runs are unknown.")]
    frame = pl.DataFrame([vars(c) for c in choices],
                         schema={"choice": pl.String, "study": pl.String, "used": pl.String, "source": pl.String})
    return blocks + [Text("Generated from this directory's planned run specs (`plan.json`, the resolved config) and "
                          "run records (`run.json`), and from the code that fixes the rest; nothing here is "
                          "written by hand."), Grid(frame)]
