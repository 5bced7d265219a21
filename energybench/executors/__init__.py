"""Executors take the runs ``submit`` selected and execute them: locally or on SLURM.

Every backend implements :class:`~.base.Executor` (one protocol, one
signature); :func:`open_executor` finds the backend by name in
:data:`EXECUTORS` and runs its own checks. ``submit`` never branches on the
backend.
"""

from __future__ import annotations

import importlib

from ..config import Experiment
from ..errors import SubmitError
from .base import Executor

#: Backend name -> ``module:class`` (imported on demand: submitit loads only for SLURM).
EXECUTORS: dict[str, str] = {
    "local": "energybench.executors.local:LocalExecutor",
    "slurm": "energybench.slurm.executor:SlurmExecutor",
}


def open_executor(exp: Experiment, *, dry_run: bool = False) -> Executor:
    """The backend ``exp.executor.kind`` names, with its checks done (profile, cluster); nothing written."""
    kind = exp.executor.kind
    if kind not in EXECUTORS:
        raise SubmitError(f"unknown executor {kind!r}; use {' or '.join(map(repr, EXECUTORS))}")
    module, _, name = EXECUTORS[kind].partition(":")
    cls = getattr(importlib.import_module(module), name)
    return cls.open(exp, dry_run=dry_run)
