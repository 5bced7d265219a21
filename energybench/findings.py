"""What the study found, computed from the tables: the block a report opens with.

:func:`compute_findings` is pure: (tables, runs, published values) -> a list of
:class:`Finding`, one sentence each, in the order a reader asks: which setup
was cheapest to early stop and by how much, the energy that setup spent to
reach the target accuracy, whether pretraining paid off and after how many
cycles, what freezing the encoder saved, whether multitask beat the two single
tasks, and what the numbers rest on (meters, data). A question the tables
cannot answer gets a finding that says why (``missing``), never silence.

Energies are in Wh as in the tables; :func:`energy_text` picks Wh or mWh for
reading.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from .figures import heatmap_name
from .workloads.registry import headlines
from .reference import Reference, compare_freeze_savings, match_hardware
from .tables import SETUP_KEYS, multitask_types, transfer_roles

#: Finding topics in reading order, with the label a report shows.
TOPICS: dict[str, str] = {
    "cheapest": "Cheapest setup",
    "energy_to_target": "Energy to target",
    "break_even": "Pretraining break-even",
    "freeze": "Freezing the encoder",
    "multitask": "Multitask",
    "provenance": "Measurements",
}
#: The study's claim the cheapest-setup ratio is read against.
STUDY_BEST_OF_WORST_PCT = 20.0
#: What each meter kind's energy is.
METER_NOTES: dict[str, str] = {
    "nvml": "measured (NVIDIA GPU energy counters)",
    "rapl": "measured (CPU package counters, RAPL)",
    "estimate": "a model (TDP x utilisation), not a measurement",
    "synthetic": "a test trace, not a measurement",
}
_DATASET_TITLES = {"pamap2": "PAMAP2", "celeba": "CelebA"}


@dataclass(frozen=True)
class Finding:
    """One sentence of the findings block and where its numbers come from."""

    topic: str  # a key of TOPICS
    text: str  # one sentence; `backticks` mark code
    table: str | None = None  # the table it is computed from
    figures: tuple[str, ...] = ()  # names (file stems) of the figures that show it
    missing: bool = False  # the tables cannot answer the question; ``text`` says why


def energy_text(wh: float) -> str:
    """An energy for reading: Wh from 1 Wh up, else mWh, 3 significant digits below 100."""
    value, unit = (wh, "Wh") if abs(wh) >= 1 else (wh * 1000, "mWh")
    return f"{value:,.0f} {unit}" if abs(value) >= 100 else f"{value:.3g} {unit}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _dataset(name: str) -> str:
    return _DATASET_TITLES.get(name, name)


def _setup(row: Mapping[str, object]) -> str:
    return f"setup {row['setup']} (batch {row['batch_size']}, lr {row['learning_rate']:g})"


def _usable(table: pl.DataFrame | None, column: str) -> pl.DataFrame:
    """The rows of ``table`` with ``column`` measured; empty when the table or the column is absent."""
    if table is None or column not in table.columns:
        return pl.DataFrame()
    return table.filter(pl.col(column).is_not_null())


def _completed_paradigms(runs: pl.DataFrame | None) -> set[str] | None:
    if runs is None:
        return None
    return set(runs.filter(pl.col("status") == "COMPLETED")["paradigm"].drop_nulls())


def _lacking(needed: list[str], runs: pl.DataFrame | None) -> str:
    """Why paired paradigms are missing: the ones without a completed run, when the runs are known."""
    have = _completed_paradigms(runs)
    absent = [p for p in needed if have is not None and p not in have]
    if absent:
        return f"no completed run of {', '.join(f'`{p}`' for p in absent)}"
    return "no hardware x setup has all of them completed with energy"


def _dataset_order(dataset: str) -> int:
    """The study's datasets in its order (PAMAP2 first), then any other."""
    order = list(headlines())
    return order.index(dataset) if dataset in order else len(order)


def main_paradigm(dataset: str, paradigms: list[str]) -> str:
    """The paradigm that stands for ``dataset`` (the study's headline one when present, else the first)."""
    main = headlines().get(dataset)
    return main if main in paradigms else sorted(paradigms)[0]


def cheapest_setups(total: pl.DataFrame | None) -> tuple[list[Finding], dict[tuple[str, str], dict]]:
    """Per dataset x hardware, the cheapest and the most expensive setup of the main paradigm.

    Also returns the cheapest setup's row per (dataset, hardware), for the energy-to-target finding.
    """
    measured = _usable(total, "energy_mean_wh")
    if measured.height == 0:
        return [Finding("cheapest", "No setup energies: the `total_energy` table has no completed run with "
                        "energy.", "total_energy", missing=True)], {}
    findings, cheapest = [], {}
    groups = measured.group_by(["dataset", "hardware"])
    for (dataset, hardware), part in sorted(groups, key=lambda kv: (_dataset_order(kv[0][0]), kv[0])):
        paradigm = main_paradigm(dataset, part["paradigm"].unique().to_list())
        part = part.filter(pl.col("paradigm") == paradigm)
        low = part.sort(["energy_mean_wh", "setup"]).row(0, named=True)
        high = part.sort(["energy_mean_wh", "setup"], descending=[True, False]).row(0, named=True)
        cheapest[(dataset, hardware)] = low
        where = f"{_dataset(dataset)} on `{hardware}` (`{paradigm}`"
        figures = ("total_energy", heatmap_name(dataset, hardware))
        if part.height == 1:
            text = (f"{where}, 1 setup): only {_setup(low)} was measured, {energy_text(low['energy_mean_wh'])} "
                    "to early stop; nothing to compare it with.")
        elif high["energy_mean_wh"] <= 0:
            text = f"{where}, {_count(part.height, 'setup')}): no setup spent any energy; nothing to compare."
        else:
            pct = 100 * low["energy_mean_wh"] / high["energy_mean_wh"]
            times = high["energy_mean_wh"] / low["energy_mean_wh"] if low["energy_mean_wh"] > 0 else float("inf")
            text = (f"{where}, {part.height} setups): cheapest {_setup(low)}, {energy_text(low['energy_mean_wh'])} "
                    f"to early stop; most expensive {_setup(high)}, {energy_text(high['energy_mean_wh'])}. "
                    f"The cheapest costs {pct:.0f} % of the most expensive ({times:.1f}x less; the study: "
                    f"usually under {STUDY_BEST_OF_WORST_PCT:.0f} %).")
        findings.append(Finding("cheapest", text, "total_energy", figures))
    return findings, cheapest


def energy_to_target(table: pl.DataFrame | None, cheapest: Mapping[tuple[str, str], dict]) -> list[Finding]:
    """Per dataset x hardware, the energy the cheapest setup's runs spent until they first reached the target."""
    if not cheapest:
        return [Finding("energy_to_target", "No energy to target: no cheapest setup (see above).",
                        "energy_to_target", missing=True)]
    if table is None or table.height == 0:
        return [Finding("energy_to_target", "No energy to target: the `energy_to_target` table is empty.",
                        "energy_to_target", missing=True)]
    findings = []
    for (dataset, hardware), setup in cheapest.items():
        runs = table.filter(*(pl.col(k).eq_missing(setup[k]) for k in SETUP_KEYS))
        reached = runs.filter(pl.col("reached"))
        known = reached.filter(pl.col("energy_to_target_wh").is_not_null())
        where = f"{_dataset(dataset)} on `{hardware}`: the cheapest setup {setup['setup']}"
        if runs.height == 0:
            text = f"{where} has no row in `energy_to_target`."
        elif reached.height == 0:
            text = f"{where} never reached the target accuracy (0 of {runs.height} runs)."
        elif known.height == 0:
            text = (f"{where} reached the target accuracy in {reached.height} of {runs.height} runs, but an epoch "
                    "up to it has no energy.")
        else:
            wh = known["energy_to_target_wh"].mean()
            frac = known["energy_to_target_frac"].mean()
            share = f" ({100 * frac:.0f} % of its energy to early stop)" if frac is not None else ""
            text = (f"{where} reached the target accuracy in {reached.height} of {runs.height} runs, after "
                    f"{energy_text(wh)} on average{share}.")
        findings.append(Finding("energy_to_target", text, "energy_to_target"))
    return findings


def _cycles(row: Mapping[str, object]) -> str:
    return f"{row['cycles']:.1f} cycles" if row["pays_off"] else "never"


def break_even(table: pl.DataFrame | None, runs: pl.DataFrame | None) -> list[Finding]:
    """Per hardware: recycling cycles until the autoencoder pretraining pays off, best / average / worst."""
    kinds = table.filter(pl.col("kind").is_in(["best", "average", "worst"])) if table is not None else None
    if kinds is None or kinds.height == 0:
        roles = transfer_roles()
        pretrain, frozen, scratch = (roles.get(k, f"a {k} workload") for k in ("pretrain", "frozen", "scratch"))
        why = _lacking([pretrain, frozen, scratch], runs)
        return [Finding("break_even", f"No break-even: it needs `{pretrain}`, `{frozen}` and `{scratch}` on "
                        f"the same setups; {why}.", "break_even", ("break_even",), missing=True)]
    findings = []
    for (hardware,), part in sorted(kinds.group_by(["hardware"]), key=lambda kv: kv[0]):
        by_kind = {r["kind"]: r for r in part.iter_rows(named=True)}
        best, average, worst = (by_kind.get(k) for k in ("best", "average", "worst"))
        parts = []
        if best:
            parts.append(f"{_cycles(best)} at best (setup {best['setup']})")
        if average:
            parts.append(f"{_cycles(average)} on average over {_count(average['n_setups'], 'setup')}")
        if worst:
            parts.append(f"{_cycles(worst)} at worst (setup {worst['setup']})")
        verdict = "pays off" if best and best["pays_off"] else "never pays off"
        text = f"`{hardware}`: pretraining the encoder {verdict}: {', '.join(parts)} of reusing it (eq. 2)."
        findings.append(Finding("break_even", text, "break_even", ("break_even",)))
    return findings


def _published(frame: pl.DataFrame, hardware: str, column: str) -> tuple[str, float] | None:
    """(published hardware, value) paired with a measured hardware in a comparison frame."""
    hits = frame.filter((pl.col("hardware") == hardware) & pl.col(column).is_not_null())
    return (hits["published_hardware"][0], hits[column][0]) if hits.height else None


def freeze(table: pl.DataFrame | None, runs: pl.DataFrame | None, reference: Reference | None,
           pairs: Mapping[str, str]) -> list[Finding]:
    """Per hardware: the saving of the frozen over the fine-tuned pretrained encoder, beside the published one."""
    measured = _usable(table, "savings_frac")
    if measured.height == 0:
        roles = transfer_roles()
        frozen, unfrozen = (roles.get(k, f"a {k} workload") for k in ("frozen", "unfrozen"))
        why = _lacking([frozen, unfrozen], runs)
        return [Finding("freeze", f"No freeze savings: they need `{frozen}` and `{unfrozen}` on the same setups; "
                        f"{why}.", "freeze_savings", missing=True)]
    compared = compare_freeze_savings(measured, reference, dict(pairs)) if reference is not None else None
    findings = []
    for row in measured.sort("hardware").iter_rows(named=True):
        saving = row["savings_frac"]
        verb = f"saved {100 * saving:.0f} %" if saving >= 0 else f"cost {-100 * saving:.0f} % more"
        text = (f"`{row['hardware']}`: freezing the pretrained encoder {verb} "
                f"({energy_text(row['frozen_energy_mean_wh'])} vs {energy_text(row['unfrozen_energy_mean_wh'])} "
                f"fine-tuned, mean over {_count(row['n_setups'], 'setup')})")
        published = _published(compared, row["hardware"], "published_savings_frac") if compared is not None else None
        text += f"; published for `{published[0]}`: {100 * published[1]:.1f} %." if published else "."
        findings.append(Finding("freeze", text, "freeze_savings"))
    return findings


def published_multitask_savings(reference: Reference) -> dict[str, float]:
    """Published hardware -> 1 - E(both) / (E(attribute) + E(identity)), energy = mWh per epoch x epochs.

    Journal Table 3 prints energy per epoch and epochs, not the totals: this is derived from them.
    """
    totals = reference.multitask.with_columns(mwh=pl.col("epoch_energy_mwh") * pl.col("epochs"))
    out = {}
    for (hardware,), part in totals.group_by(["hardware"], maintain_order=True):
        mwh = dict(part.select("type", "mwh").iter_rows())
        single = mwh.get("attribute", 0.0) + mwh.get("identity", 0.0)
        if {"attribute", "identity", "both"} <= set(mwh) and single > 0:
            out[hardware] = 1 - mwh["both"] / single
    return out


def multitask(table: pl.DataFrame | None, runs: pl.DataFrame | None, reference: Reference | None,
              pairs: Mapping[str, str]) -> list[Finding]:
    """Per hardware: the multitask run vs attribute + identity trained separately, beside the published one."""
    measured = _usable(table, "multitask_savings_frac")
    if measured.height == 0:
        why = _lacking(list(multitask_types()), runs)
        names = ", ".join(f"`{p}`" for p in multitask_types())
        return [Finding("multitask", f"No multitask comparison: it needs {names} on the same setups; {why}.",
                        "multitask", ("multitask",), missing=True)]
    per_hardware = measured.unique("hardware", keep="first").sort("hardware")
    published = published_multitask_savings(reference) if reference is not None else {}
    matches = match_hardware(per_hardware["hardware"].to_list(), reference.published_hardware(),
                             dict(pairs)) if reference is not None else {}
    findings = []
    for row in per_hardware.iter_rows(named=True):
        saving = row["multitask_savings_frac"]
        verdict = f"beat the single tasks by {100 * saving:.0f} %" if saving > 0 else (
            f"did not beat the single tasks ({-100 * saving:.0f} % more)")
        text = (f"`{row['hardware']}`: multitask {verdict}: {energy_text(row['multitask_energy_mean_wh'])} vs "
                f"{energy_text(row['single_tasks_energy_mean_wh'])} for attribute + identity trained separately "
                f"(mean per setup over {_count(row['n_paired_setups'], 'setup')})")
        pub = matches.get(row["hardware"])
        if pub in published:
            text += (f"; published for `{pub}`: {100 * published[pub]:.0f} % (journal Table 3, energy per epoch "
                     "x epochs).")
        else:
            text += "."
        findings.append(Finding("multitask", text, "multitask", ("multitask",)))
    return findings


def provenance(runs: pl.DataFrame | None) -> list[Finding]:
    """How many runs, on what hardware, with which meters, on published or generated data."""
    if runs is None or runs.height == 0:
        return [Finding("provenance", "No run records (`dataset/runs.parquet`): the meters and the data are "
                        "unknown.", missing=True)]
    counts = dict(runs.group_by("status").len().iter_rows())
    # COMPLETED first, the others by name: no import of the run-state machinery for one sentence.
    states = ", ".join(f"{counts[s]} {s}" for s in sorted(counts, key=lambda s: (s != "COMPLETED", s)))
    hardware = ", ".join(f"`{h}`" for h in sorted(runs["hardware"].drop_nulls().unique()))
    meters = sorted(runs["meter"].drop_nulls().unique())
    energy = "; ".join(f"energy from the `{m}` meter is {METER_NOTES.get(m, 'of an unknown kind')}" for m in meters)
    generated = int(runs["data_synthetic"].fill_null(False).sum())
    if generated == runs.height:
        data = "every run trained on generated data (the upstream formats, not the published datasets)"
    elif generated:
        data = f"{generated} of {runs.height} runs trained on generated data, the rest on the published datasets"
    else:
        data = "every run trained on the published datasets"
    text = f"{runs.height} runs ({states}) on {hardware}; {energy or 'no meter recorded'}; {data}."
    return [Finding("provenance", text)]


def compute_findings(tables: Mapping[str, pl.DataFrame], runs: pl.DataFrame | None = None,
                     reference: Reference | None = None, pairs: Mapping[str, str] | None = None) -> list[Finding]:
    """Every finding, in :data:`TOPICS` order. Pure; missing tables give ``missing`` findings."""
    pairs = dict(pairs or {})
    cheapest, rows = cheapest_setups(tables.get("total_energy"))
    return [
        *cheapest,
        *energy_to_target(tables.get("energy_to_target"), rows),
        *break_even(tables.get("break_even"), runs),
        *freeze(tables.get("freeze_savings"), runs, reference, pairs),
        *multitask(tables.get("multitask"), runs, reference, pairs),
        *provenance(runs),
    ]
