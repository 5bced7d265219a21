"""Every input a run reads, checked on the login node: weights and datasets.

``submit`` checks them before anything is written; ``prefetch`` fills the
caches first and then checks the same way. Errors name the config file and
the field.
"""

from __future__ import annotations

from pathlib import Path

from .config import Experiment
from .errors import DataError


def named(source: Path | None, field: str, exc: DataError) -> DataError:
    """``exc`` prefixed with the config file and the field it is about."""
    return DataError(f"{source}: {field}: {exc}" if source is not None else str(exc))


def check_weights(weights: str) -> str:
    """Load the configured ResNet18 weights locally (no download); a line saying what was found."""
    from .worker.models import build_resnet18, imagenet_weights_file

    build_resnet18(weights)
    return "random init" if weights == "none" else \
        f"ok ({imagenet_weights_file() if weights == 'imagenet' else weights})"


def check_data(exp: Experiment, source: Path | None = None) -> dict[str, bool]:
    """Check (and, for ``generate: true``, create) every dataset the plan uses; dataset -> synthetic?"""
    from .worker.data import ensure_data, unusable

    out = {}
    for ds in exp.datasets:
        section = getattr(exp.data, ds)
        try:
            out[ds] = ensure_data(ds, section.model_dump(mode="json"))
            why = unusable(ds, section.path, {w.name: w.needs for w in exp.workloads.values() if w.dataset == ds})
            if why:
                raise DataError(why)
        except DataError as exc:
            raise named(source, f"data.{ds}.path", exc) from None
    for w in exp.workloads.values():  # what a workload checks of its own (third-party inputs)
        problem = w.check(w.resolved_params({}))
        if problem:
            raise named(source, f"paradigms: {w.name}", DataError(problem))
    return out


def check_inputs(exp: Experiment, source: Path | None = None) -> None:
    """The weights (cheap) first, then the datasets (which ``generate: true`` may have to write)."""
    if "celeba" in exp.datasets and exp.data.celeba is not None and exp.data.celeba.weights != "none":
        try:
            check_weights(exp.data.celeba.weights)
        except DataError as exc:
            raise named(source, "data.celeba.weights", exc) from None
    check_data(exp, source)
