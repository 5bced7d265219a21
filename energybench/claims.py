"""Every numeric claim of the study, checked against what a results directory measured.

The claims are data (``results/reference/claims.csv``: the quote, where it
stands, the quantity it is about, the published value or range, and the
tolerance a measured value gets). :func:`measured_values` computes each
quantity from the tables; :func:`check_claims` sets them side by side, one
row per claim and measured hardware (dataset too, where the quantity is per
dataset), with a verdict: ``holds``, ``does not hold`` or ``not measured``.
Pure functions; the report renders the frame (:func:`claims_blocks`).

Relations and tolerances (``tolerance_frac`` = t):

* ``range`` [low, high]: holds when low x (1 - t) <= value <= high x (1 + t);
* ``at_most`` high: value <= high x (1 + t);
* ``around`` x: \\|value - x\\| <= t x;
* ``order``: the measured order is the published one exactly.

A claim with an empty ``hardware`` is a general finding, checked on every
measured hardware; one that names published hardware (``rtx6000ada;m1max``)
only on the measured hardware paired with it (:func:`energybench.reference.match_hardware`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from .errors import ResultsError
from .tables import multitask_types
from .workloads.registry import headlines
from .reference import REFERENCE_DIR, match_hardware
from .render import Block, Grid, Heading, Text

CLAIMS_FILE = "claims.csv"
CLAIM_COLUMNS = ("id", "source", "where", "quote", "quantity", "relation", "low", "high", "unit", "hardware",
                 "tolerance_frac", "note")
RELATIONS = ("range", "at_most", "around", "order")
HOLDS, FAILS, NOT_MEASURED = "holds", "does not hold", "not measured"
CLAIMS_TITLE = "Published claims"
#: The published order of the multitask epochs (journal Table 3: both 85 < identity 170 < attribute 358).
MULTITASK_EPOCH_ORDER = ("both", "identity", "attribute")


@dataclass(frozen=True)
class Measured:
    """One measured value of a quantity: on which hardware (and dataset), and what it is."""

    hardware: str
    value: float | str  # a number, or the measured order for ``order``
    dataset: str | None = None


def load_claims(ref_dir: Path = REFERENCE_DIR) -> pl.DataFrame:
    """``claims.csv`` of ``ref_dir``, checked: its columns and relations."""
    path = Path(ref_dir) / CLAIMS_FILE
    try:
        frame = pl.read_csv(path, schema_overrides={"low": pl.Float64, "high": pl.Float64, "hardware": pl.String,
                                                    "tolerance_frac": pl.Float64})
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise ResultsError(f"{path}: cannot read the published claims ({type(exc).__name__})") from None
    missing = [c for c in CLAIM_COLUMNS if c not in frame.columns]
    if missing:
        raise ResultsError(f"{path}: missing columns {', '.join(missing)} (see results/reference/README.md)")
    bad = sorted(set(frame["relation"]) - set(RELATIONS))
    if bad:
        raise ResultsError(f"{path}: relation {bad[0]!r} is not one of {', '.join(RELATIONS)}")
    return frame


def _best_worst(total: pl.DataFrame | None) -> list[tuple[str, str, float, float]]:
    """(hardware, dataset, best Wh, worst Wh) of the main paradigm per dataset x hardware, from ``total_energy``."""
    if total is None or "energy_mean_wh" not in total.columns:
        return []
    out = []
    measured = total.filter(pl.col("energy_mean_wh").is_not_null())
    for (dataset, hardware), part in sorted(measured.group_by(["dataset", "hardware"]), key=lambda kv: kv[0]):
        main = headlines().get(dataset)
        part = part.filter(pl.col("paradigm") == main) if main in part["paradigm"].to_list() else part
        if part.height >= 2 and part["energy_mean_wh"].max() > 0:
            out.append((hardware, dataset, part["energy_mean_wh"].min(), part["energy_mean_wh"].max()))
    return out


def _per_hardware(table: pl.DataFrame | None, column: str, scale: float = 1.0) -> list[Measured]:
    if table is None or column not in table.columns:
        return []
    rows = table.filter(pl.col(column).is_not_null()).unique("hardware", keep="first").sort("hardware")
    return [Measured(r["hardware"], scale * r[column]) for r in rows.iter_rows(named=True)]


def _cycles(table: pl.DataFrame | None, kind: str) -> list[Measured]:
    if table is None or "kind" not in table.columns:
        return []
    rows = table.filter((pl.col("kind") == kind) & pl.col("cycles").is_not_null() & pl.col("pays_off"))
    return [Measured(r["hardware"], r["cycles"]) for r in rows.sort("hardware").iter_rows(named=True)]


def _epoch_order(table: pl.DataFrame | None) -> list[Measured]:
    if table is None or "epochs_mean" not in table.columns:
        return []
    out = []
    for (hardware,), part in sorted(table.group_by(["hardware"]), key=lambda kv: kv[0]):
        epochs = {r["type"]: r["epochs_mean"] for r in part.iter_rows(named=True) if r["epochs_mean"] is not None}
        if set(MULTITASK_EPOCH_ORDER) <= set(epochs):
            order = sorted(MULTITASK_EPOCH_ORDER, key=lambda t: (epochs[t], MULTITASK_EPOCH_ORDER.index(t)))
            out.append(Measured(hardware, " < ".join(f"{t} {epochs[t]:.0f}" for t in order)))
    return out


def _multitask_vs_cheaper(total: pl.DataFrame | None) -> list[Measured]:
    """Mean over setups of E(both) / min(E(attribute), E(identity)), per hardware, from ``total_energy``."""
    names = {p: {"attribute": "a", "identity": "i", "both": "b"}[t] for p, t in multitask_types().items()}
    if total is None or "energy_mean_wh" not in total.columns:
        return []
    part = total.filter(pl.col("paradigm").is_in(list(names)) & pl.col("energy_mean_wh").is_not_null())
    wide = part.with_columns(pl.col("paradigm").replace_strict(names)).pivot(
        "paradigm", index=["hardware", "setup"], values="energy_mean_wh")
    if not {"a", "i", "b"} <= set(wide.columns):
        return []
    ratio = wide.drop_nulls(["a", "i", "b"]).with_columns(r=pl.col("b") / pl.min_horizontal("a", "i"))
    means = ratio.group_by("hardware").agg(pl.col("r").mean()).sort("hardware")
    return [Measured(h, r) for h, r in means.iter_rows()]


def measured_values(tables: Mapping[str, pl.DataFrame]) -> dict[str, list[Measured]]:
    """Every quantity a claim can be about, computed from the tables (empty where they cannot say)."""
    bw = _best_worst(tables.get("total_energy"))
    largest: dict[str, float] = {}
    for hardware, _, best, worst in bw:
        largest[hardware] = max(largest.get(hardware, 0.0), worst / best if best > 0 else float("inf"))
    saving: dict[str, float] = {}
    for hardware, _, best, worst in bw:
        saving[hardware] = max(saving.get(hardware, 0.0), 100 * (1 - best / worst))
    return {
        "best_of_worst_pct": [Measured(h, 100 * best / worst, d) for h, d, best, worst in bw],
        "worst_over_best": [Measured(h, v) for h, v in sorted(largest.items())],
        "saving_of_best_pct": [Measured(h, v) for h, v in sorted(saving.items())],
        "break_even_best_cycles": _cycles(tables.get("break_even"), "best"),
        "break_even_average_cycles": _cycles(tables.get("break_even"), "average"),
        "break_even_worst_cycles": _cycles(tables.get("break_even"), "worst"),
        "freeze_savings_pct": _per_hardware(tables.get("freeze_savings"), "savings_frac", 100),
        "multitask_savings_pct": _per_hardware(tables.get("multitask"), "multitask_savings_frac", 100),
        "multitask_epochs_order": _epoch_order(tables.get("multitask")),
        "multitask_over_cheaper_single": _multitask_vs_cheaper(tables.get("total_energy")),
    }


def _num(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 100 else f"{x:.0f}"


def published_text(claim: Mapping[str, object]) -> str:
    """The published value as a reader says it: "2–3 cycles", "≤ 20 %", "≈ 40 %", "both < identity < attribute"."""
    unit = f" {claim['unit']}" if claim["unit"] not in (None, "x") else "x"
    low, high = claim["low"], claim["high"]
    if claim["relation"] == "order":
        return " < ".join(MULTITASK_EPOCH_ORDER)
    if claim["relation"] == "range":
        return f"{_num(low)}–{_num(high)}{unit}"  # type: ignore[arg-type]
    if claim["relation"] == "at_most":
        return f"≤ {_num(high)}{unit}"  # type: ignore[arg-type]
    return f"≈ {_num(low)}{unit}"  # type: ignore[arg-type]


def tolerance_text(claim: Mapping[str, object]) -> str:
    t = float(claim["tolerance_frac"] or 0.0)  # type: ignore[arg-type]
    if claim["relation"] == "order":
        return "exact order"
    return "none" if t == 0 else f"±{100 * t:.0f} %"


def verdict(claim: Mapping[str, object], value: float | str) -> str:
    """``holds`` or ``does not hold`` for one measured value (see the module docstring)."""
    t = float(claim["tolerance_frac"] or 0.0)  # type: ignore[arg-type]
    relation = claim["relation"]
    if relation == "order":
        measured = [part.split()[0] for part in str(value).split(" < ")]
        return HOLDS if tuple(measured) == MULTITASK_EPOCH_ORDER else FAILS
    v = float(value)
    low, high = claim["low"], claim["high"]
    if relation == "range":
        ok = float(low) * (1 - t) <= v <= float(high) * (1 + t)  # type: ignore[arg-type]
    elif relation == "at_most":
        ok = v <= float(high) * (1 + t)  # type: ignore[arg-type]
    else:
        ok = abs(v - float(low)) <= t * abs(float(low))  # type: ignore[arg-type]
    return HOLDS if ok else FAILS


CHECK_SCHEMA = {"claim": pl.String, "source": pl.String, "where": pl.String, "quote": pl.String,
                "published": pl.String, "scope": pl.String, "hardware": pl.String, "dataset": pl.String,
                "measured": pl.String, "verdict": pl.String, "tolerance": pl.String}


def check_claims(claims: pl.DataFrame, tables: Mapping[str, pl.DataFrame], published_hardware: list[str],
                 pairs: Mapping[str, str] | None = None) -> pl.DataFrame:
    """One row per claim x measured value it applies to (one ``not measured`` row where none does)."""
    values = measured_values(tables)
    named = sorted({h for hw in claims["hardware"].drop_nulls() for h in hw.split(";")} | set(published_hardware))
    rows = []
    for claim in claims.iter_rows(named=True):
        scope = [h for h in (claim["hardware"] or "").split(";") if h]
        found = values.get(claim["quantity"], [])
        if scope:
            matches = match_hardware([m.hardware for m in found], named, dict(pairs or {}))
            found = [m for m in found if matches.get(m.hardware) in scope]
        base = {"claim": claim["id"], "source": claim["source"], "where": claim["where"], "quote": claim["quote"],
                "published": published_text(claim), "tolerance": tolerance_text(claim),
                "scope": ", ".join(scope) if scope else "any hardware"}
        if not found:
            rows.append({**base, "hardware": None, "dataset": None, "measured": None, "verdict": NOT_MEASURED})
        for m in found:
            shown = m.value if isinstance(m.value, str) else _num(m.value) + (
                f" {claim['unit']}" if claim["unit"] not in (None, "x") else "x")
            rows.append({**base, "hardware": m.hardware, "dataset": m.dataset, "measured": shown,
                         "verdict": verdict(claim, m.value)})
    return pl.DataFrame(rows, schema=CHECK_SCHEMA)


def claims_blocks(checked: pl.DataFrame | None, note: str | None = None) -> list[Block]:
    """The report's section: a sentence on how to read it and the table."""
    blocks: list[Block] = [Heading(CLAIMS_TITLE, 2)]
    if checked is None:
        return blocks + [Text(note or "No published claims.")]
    counts = dict(checked.group_by("verdict").len().iter_rows())
    summary = ", ".join(f"{counts.get(v, 0)} {v}" for v in (HOLDS, FAILS, NOT_MEASURED))
    blocks.append(Text(
        "Every numeric claim of the journal's and the workshop's results and discussion "
        f"(`results/reference/{CLAIMS_FILE}`), beside the value this directory measured: {summary}. A claim "
        "about named hardware is checked on the measured hardware paired with it; a general one on every measured "
        "hardware (a CPU demo checks the study's general findings on its own, small runs). The tolerance widens "
        "the published value or range by that share before the verdict."))
    shown = checked.select("claim", "quote", "where", "published", "scope", "hardware", "dataset", "measured",
                           "tolerance", "verdict")
    return blocks + [Grid(shown, {"hardware": "—", "dataset": "—", "measured": NOT_MEASURED})]
