"""``DIR/plan.json`` and ``DIR/runs/<id>/spec.json``: the one reader and writer of a directory's plan.

::

    {"experiment": "<name>", "fingerprint": "<hash of the sorted run ids>",
     "runs": [<run spec>, ...], "synthetic": true   (only for generated datasets)}

``submit``, the synthetic generator, the benchmarks and the tests' fabricated
directories all write it here, so they cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .errors import ResultsError
from .paths import ResultsLayout, read_json, write_json

if TYPE_CHECKING:  # status reads plans on login nodes: no pydantic import for that
    from .plan import RunSpec


def fingerprint(specs: Sequence["RunSpec"]) -> str:
    """Identity of a plan: the sorted run ids (paths and executor settings excluded)."""
    from .plan import stable_hash

    return stable_hash(sorted(s.run_id for s in specs))


def write_plan(layout: ResultsLayout, experiment: str, specs: Sequence["RunSpec"], *,
               synthetic: bool = False, run_specs: bool = True) -> None:
    """Write ``plan.json`` and (``run_specs``) every run's ``spec.json``, each atomically."""
    data: dict[str, Any] = {"experiment": experiment, "fingerprint": fingerprint(specs),
                            "runs": [s.to_dict() for s in specs]}
    if synthetic:
        data["synthetic"] = True
    write_json(layout.plan, data)
    if run_specs:
        for s in specs:
            write_json(layout.run(s.run_id).spec, s.to_dict())


def read_plan(layout: ResultsLayout) -> dict[str, Any]:
    """The whole ``plan.json``; a one-line error for a directory that is not ours or a damaged plan."""
    if not layout.plan.exists():
        raise ResultsError(f"{layout.root}: not an energybench results directory (no plan.json); "
                           "run `energybench submit CONFIG --results DIR` first")
    try:
        data = read_json(layout.plan)
    except (OSError, ValueError):
        raise ResultsError(f"{layout.plan}: unreadable plan; move the directory aside") from None
    if not isinstance(data, dict) or not isinstance(data.get("runs"), list):
        raise ResultsError(f"{layout.plan}: not a plan (no list of runs); move the directory aside")
    return data


def load_plan(layout: ResultsLayout) -> list[dict[str, Any]]:
    """The planned run specs of a results directory, as written."""
    return read_plan(layout)["runs"]
