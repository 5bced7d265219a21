"""``python -m energybench.launch RUN_DIR``: one worker process, with the study's policies plugged in.

The worker (:mod:`energybench.worker`) knows training, metering and threshold
early stopping; the energy-budget rule (:mod:`energybench.estimate.budget`)
and successive halving's gate (:mod:`energybench.search.rungs`) sit above it
and are passed in here. The local executor starts this module;
a SLURM array task calls :func:`main` (:class:`energybench.slurm.job.RunJob`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from .estimate import budget
from .search import rungs
from .worker import entry


def main(run_dir: str | Path) -> int:
    """Execute one run (see :func:`energybench.worker.entry.main` for the return codes)."""
    return entry.main(run_dir, energy_rule=budget.rule_for, rung_gate=rungs.gate_for)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m energybench.launch RUN_DIR", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
