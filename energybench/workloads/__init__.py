"""Workloads: what a run trains, one protocol for the study's seven and for anyone's own.

:class:`Workload` is the protocol (:mod:`.base`); :mod:`.registry` finds
them (built-ins, the ``energybench.workloads`` entry-point group,
``module:attribute``); :mod:`.command` is a program run as the run. The
built-ins are one module each (``pamap2_baseline``, ...).
"""

from __future__ import annotations

from typing import Any

from . import registry
from .base import Param, SyntheticProfile, Workload
from .registry import GROUP, WorkloadError, builtins, get, known, resolve

__all__ = ["GROUP", "Param", "SyntheticProfile", "Workload", "WorkloadError", "build_task", "builtins", "get", "known",
           "resolve"]


def build_task(spec: Any, device: Any, upstream: Any = None) -> Any:
    """The task of a planned run (``RunSpec``): its workload, from the registry, built on ``device``.

    ``upstream``: the run directory (``RunPaths``) of the run it depends on, for its artefacts.
    """
    return registry.resolve_ref(spec.workload, spec.paradigm).build(spec, device, upstream)
