"""Executors take planned runs and execute them: locally or on SLURM.

An executor is a callable ``(experiment, layout, specs, *, force, echo) -> None``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import SubmitError


def get_executor(kind: str) -> Callable[..., Any]:
    """The executor for ``kind`` ("local" or "slurm")."""
    if kind == "local":
        from .local import run_local

        return run_local
    if kind == "slurm":
        try:
            from .slurm import run_slurm  # type: ignore[import-not-found]
        except ImportError:
            raise SubmitError("executor 'slurm' is not available in this version; use --executor local") from None
        return run_slurm
    raise SubmitError(f"unknown executor {kind!r}; use 'local' or 'slurm'")
