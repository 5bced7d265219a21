"""What a planned run will train, before it runs: its workload features and its expected epochs.

A run's model and data (its *workload*: paradigm + the data settings that
change what is trained) fix its parameters, MACs, sample counts and input
size; the grid point and the GPU do not. ``estimate fit`` stores every
workload of its dataset in the model file (the *catalogue*), keyed like run
ids are (data location and weights left out), and the mean epochs to early
stop per workload x early-stopping rule x batch size x learning rate.

``estimate predict`` takes a planned run's workload from the catalogue;
a workload the model has not seen comes from the *published catalogue*
shipped with energybench (``published_workloads.json``: the study's datasets
at the paper's settings, exact MACs and parameters, approximate sample
counts, so the paper grid can be predicted before any download), else it is
characterised here: its model
is built on the CPU (no weights) and counted with the worker's own
``model_characteristics``, and its sample counts are read from its data,
which must then be present (``energybench prefetch CONFIG``). Its epochs are
the catalogue's mean for the same workload, rule and grid point, else for the
same workload and rule, else ``max_epochs`` (an upper bound, said so).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import EstimateError
from ..hashing import stable_hash
from ..workloads import registry
from .features import WORKLOAD_FEATURES

#: Data settings that say where files are or which initial weights, not how much is computed.
_NOT_WORKLOAD = ("path", "generate", "weights")
#: Early-stopping settings that decide how many epochs a run trains (the energy budget is left out).
_STOPPING = ("threshold", "patience_epochs", "max_epochs", "min_delta")


#: The shipped characteristics of the study's workloads (see the module docstring).
PUBLISHED_CATALOGUE = Path(__file__).with_name("published_workloads.json")


@functools.lru_cache(maxsize=1)
def published_catalogue() -> dict[str, dict[str, Any]]:
    """Workload key -> {"paradigm", features..., "approximate": [features that are approximate]}."""
    entries = json.loads(PUBLISHED_CATALOGUE.read_text())["workloads"]
    return {workload_key(e["paradigm"], e["data"]): {"paradigm": e["paradigm"], **e["features"],
                                                     "approximate": list(e.get("approximate", []))}
            for e in entries}


def workload_key(paradigm: str, data: dict[str, Any] | None, params: dict[str, Any] | None = None) -> str:
    """Stable key of a workload trained on a data section with extra grid axes (location and weights left out)."""
    key: dict[str, Any] = {"paradigm": paradigm,
                           "data": {k: v for k, v in (data or {}).items() if k not in _NOT_WORKLOAD}}
    if params:  # a different width is a different model; without axes, keys stay as they were
        key["params"] = params
    return stable_hash(key)


def spec_key(spec: dict[str, Any]) -> str:
    """:func:`workload_key` of a planned run (``plan.json`` entry)."""
    return workload_key(spec["paradigm"], spec.get("data"), spec.get("params"))


def stopping_key(early_stopping: dict[str, Any]) -> str:
    """Stable key of the early-stopping rule (its epoch-deciding settings)."""
    return stable_hash({k: early_stopping.get(k) for k in _STOPPING})


def _epochs_keys(spec: dict[str, Any]) -> tuple[str, str]:
    base = f"{spec_key(spec)}|{stopping_key(spec['early_stopping'])}"
    return f"{base}|{spec['batch_size']}|{float(spec['learning_rate'])!r}", base


def catalogue(frame: pl.DataFrame, specs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Workload key -> the workload features recorded for it, from the runs of ``frame`` that have a spec."""
    out: dict[str, dict[str, Any]] = {}
    for row in frame.select("run_id", *WORKLOAD_FEATURES).iter_rows(named=True):
        spec = specs.get(row["run_id"])
        if spec is not None:
            entry = out.setdefault(spec_key(spec), {"paradigm": spec["paradigm"]})
            entry.update({f: int(row[f]) for f in WORKLOAD_FEATURES if row[f] is not None and f not in entry})
    return out


def epochs_table(frame: pl.DataFrame, specs: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Mean epochs to early stop per (workload, rule, batch size, learning rate) and per (workload, rule)."""
    sums: dict[str, list[float]] = {}
    for run_id, epochs in frame.select("run_id", "epochs").iter_rows():
        spec = specs.get(run_id)
        if spec is None:
            continue
        for key in _epochs_keys(spec):
            sums.setdefault(key, []).append(float(epochs))
    return {k: sum(v) / len(v) for k, v in sorted(sums.items())}


def expected_epochs(spec: dict[str, Any], table: dict[str, float]) -> tuple[float, str]:
    """(epochs, source) of a planned run: the table's mean for its grid point, its workload, else max_epochs."""
    exact, workload = _epochs_keys(spec)
    if exact in table:
        return table[exact], "same setup"
    if workload in table:
        return table[workload], "same workload"
    return float(spec["early_stopping"]["max_epochs"]), "max_epochs (upper bound)"


def characterise(spec: dict[str, Any]) -> dict[str, int]:
    """Workload features of a planned run: its model built and counted on the CPU, its data's sample counts.

    Imports torch; reads the data at the spec's path (never generates them).
    """
    import torch

    from ..worker.data import is_present
    from ..worker.models import model_characteristics

    paradigm, data = spec["paradigm"], spec["data"] or {}
    workload = registry.resolve_ref(spec.get("workload"), paradigm)
    dataset = workload.dataset
    if dataset is not None and not is_present(dataset, Path(data["path"])):
        raise EstimateError(f"run {spec['run_id']}: workload {paradigm} ({dataset} at {data['path']}) is not in the "
                            "model's catalogue and its data are missing; run `energybench prefetch CONFIG`, or "
                            "fit the model on a dataset that has this workload")
    try:
        model, example, (n_train, n_val) = workload.build_model(data)
    except NotImplementedError as exc:
        raise EstimateError(f"run {spec['run_id']}: {exc}; fit the model on measured runs of it") from None
    with torch.no_grad():
        c = model_characteristics(model, example)
    return {"params_total": c["params_total"], "params_trainable": c["params_trainable"],
            "macs_per_sample": c["macs_per_sample"], "n_train_samples": n_train, "n_val_samples": n_val,
            "input_size": int(example[0].numel())}


def planned_frame(specs: Iterable[dict[str, Any]], known: dict[str, dict[str, Any]],
                  epochs: dict[str, float], needed: Iterable[str] = WORKLOAD_FEATURES,
                  override_epochs: int | None = None) -> pl.DataFrame:
    """One row per planned run: keys, workload features (catalogue, else characterised) and expected epochs.

    A catalogue entry serves when it has every ``needed`` feature (the model's).
    """
    rows = []
    needed = [f for f in needed if f in WORKLOAD_FEATURES]
    computed: dict[str, dict[str, Any]] = {}
    for spec in specs:
        key = spec_key(spec)
        published = published_catalogue().get(key)
        if key in known and all(f in known[key] for f in needed):
            features, source = known[key], "catalogue"
        elif published is not None:
            approximate = ", ".join(published["approximate"])
            features = published
            source = "published catalogue" + (f" ({approximate} approximate)" if approximate else "")
        else:
            if key not in computed:
                computed[key] = characterise(spec)
            features, source = computed[key], "characterised"
        n, n_source = ((float(override_epochs), "--epochs") if override_epochs is not None
                       else expected_epochs(spec, epochs))
        rows.append({
            **{k: spec[k] for k in ("run_id", "paradigm", "dataset", "hardware", "setup", "batch_size",
                                    "learning_rate", "repeat")},
            "device": "cpu" if spec["training"].get("device") == "cpu" or spec["hardware"] == "cpu" else None,
            "gpu_name": None, **{f: features.get(f) for f in WORKLOAD_FEATURES},
            "workload_source": source, "epochs": n, "epochs_source": n_source,
            "params": json.dumps(spec["params"], sort_keys=True, separators=(",", ":")) if spec.get("params") else None,
        })
    return pl.DataFrame(rows, schema_overrides={"gpu_name": pl.String, "device": pl.String, "params": pl.String,
                                                "learning_rate": pl.Float64, "epochs": pl.Float64,
                                                **{f: pl.Int64 for f in WORKLOAD_FEATURES}})


def main(argv: list[str]) -> int:
    """``python -m energybench.estimate.workload CONFIG``: the exact features of CONFIG's workloads, as JSON.

    Reads the data (they must be present); the output has the form of
    ``published_workloads.json``'s entries, to refresh its approximate counts.
    """
    from ..config import load_config
    from ..plan import plan

    seen, out = set(), []
    for spec in (s.to_dict() for s in plan(load_config(argv[0]))):
        data = {k: v for k, v in (spec["data"] or {}).items() if k not in _NOT_WORKLOAD}
        key = workload_key(spec["paradigm"], data)
        if key not in seen:
            seen.add(key)
            out.append({"paradigm": spec["paradigm"], "data": data, "features": characterise(spec),
                        "approximate": []})
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
