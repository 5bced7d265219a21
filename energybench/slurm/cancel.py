"""``energybench cancel``: scancel the queued and running jobs of a results directory (one call)."""

from __future__ import annotations

from ..errors import SubmitError
from ..paths import ResultsLayout
from ..states import State
from ..status import current_states
from .accounting import forget
from .manifest import Manifest, TaskId
from .shell import slurm


def _select(planned: list[str], wanted: list[str]) -> set[str]:
    """Run ids for the user's ids or unique prefixes; an error names any that match none or several."""
    out = set()
    for w in wanted:
        hits = [r for r in planned if r.startswith(w)]
        if len(hits) != 1:
            what = "matches no planned run" if not hits else f"matches {len(hits)} runs"
            raise SubmitError(f"--run {w}: {what}; `energybench status DIR --json` lists the run ids")
        out.add(hits[0])
    return out


def _earlier_rungs(manifest: Manifest, run_ids: list[str], whole: bool) -> list[str]:
    """The SLURM ids of the earlier rung arrays (or tasks) of the searched runs ``run_ids``.

    A search submits one array per rung (``<array>``, ``<array>.r1``, ...); the manifest's
    entry of a run is its last rung's task, its history the earlier ones.
    """
    out: set[str] = set()
    runs = manifest.data.get("runs", {})
    for rid in run_ids:
        entry = runs.get(rid) or {}
        base, sep, _ = str(entry.get("array", "")).rpartition(".r")
        if not sep:
            continue
        for old in entry.get("history", []):
            name = str(old.get("array", ""))
            if name == base or name.startswith(base + ".r"):
                out.add(str(old["array_job_id"]) if whole else str(old["job_id"]))
    return sorted(out)


def cancel_runs(layout: ResultsLayout, run_ids: list[str]) -> tuple[int, list[str]]:
    """``scancel`` (one call) the queued and running jobs of ``run_ids`` (all runs if empty).

    Returns the number of runs and the SLURM ids cancelled: whole arrays when
    every run is cancelled, array tasks (``<job>_<index>``) otherwise.
    """
    states, _ = current_states(layout, max_age_s=0, required=True)
    if not Manifest.load(layout.manifest).array_job_ids():
        raise SubmitError(f"{layout.root}: no SLURM jobs recorded in {layout.manifest.name}; "
                          "runs of the local executor stop with Ctrl-C")
    chosen = _select([s.run_id for s in states], run_ids) if run_ids else None
    live = [s for s in states if s.job_id and s.state in (State.PENDING, State.RUNNING)
            and (chosen is None or s.run_id in chosen)]
    tasks = sorted((TaskId.parse(s.job_id) for s in live), key=TaskId.sort_key)
    ids = sorted({t.array_job_id for t in tasks}, key=int) if chosen is None else [str(t) for t in tasks]
    if ids:
        slurm(["scancel", *ids], timeout_s=60)
        earlier = _earlier_rungs(Manifest.load(layout.manifest), [s.run_id for s in live], whole=chosen is None)
        if earlier:  # a search's earlier rungs: some may have ended already, which scancel reports as an error
            slurm(["scancel", *earlier], timeout_s=60, check=False)
            ids += earlier
    forget(layout.scheduler_cache)
    return len(live), ids
