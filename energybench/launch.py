"""``python -m energybench.launch RUN_DIR``: one worker process, with the study's policies plugged in.

The worker (:mod:`energybench.worker`) knows training, metering and threshold
early stopping; the energy-budget rule (:mod:`energybench.estimate.budget`),
successive halving's gate (:mod:`energybench.search.rungs`) and the workload
registry (:mod:`energybench.workloads`) sit above it and are passed in here. The local executor starts this module;
a SLURM array task calls :func:`main` (:class:`energybench.slurm.job.RunJob`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from typing import Any

from .estimate import budget
from .search import rungs
from .worker import entry
from .workloads import registry


def workload_for(spec: Any) -> Any:
    """The workload a run's spec names (``spec.workload``), from the registry."""
    return registry.resolve_ref(spec.workload, spec.paradigm)


def main(run_dir: str | Path) -> int:
    """Execute one run (see :func:`energybench.worker.entry.main` for the return codes)."""
    return entry.main(run_dir, energy_rule=budget.rule_for, rung_gate=rungs.gate_for, workload_for=workload_for)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m energybench.launch RUN_DIR", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
