"""``prefetch``: on a login node with internet, fill the weights cache and check the data.

Compute nodes never download anything: ``weights: imagenet`` reads the cache
this command fills (``$ENERGYBENCH_WEIGHTS_DIR``, default
``~/.cache/energybench/weights``; put it on a filesystem the nodes share).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .config import load_config
from .errors import DataError
from .inputs import check_data, check_weights


def prefetch(config: Path, echo: Callable[[str], None] = print) -> None:
    """Download what the config needs into local caches, then verify it loads offline."""
    exp = load_config(config)
    for w in exp.workloads.values():
        line = w.prefetch()
        if line:
            echo(f"workload {w.name}: {line}")
    for ds, synthetic in check_data(exp, config).items():
        section = getattr(exp.data, ds)
        echo(f"data {ds}: {section.path} ({'generated synthetic data' if synthetic else 'present'})")
    celeba = exp.data.celeba if "celeba" in exp.datasets else None
    if celeba is None:
        return
    if celeba.weights == "imagenet":
        from .worker.models import prefetch_imagenet_weights

        try:
            path = prefetch_imagenet_weights()
        except DataError:
            raise
        except Exception as exc:  # network errors come from requests, urllib3, huggingface_hub...
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DataError(f"{config}: data.celeba.weights: cannot download the ImageNet ResNet18 weights "
                            f"({first[:120]}); run prefetch on a node with internet, or set "
                            "data.celeba.weights to a local state-dict file") from None
        echo(f"weights imagenet: cached at {path}")
    echo(f"weights {celeba.weights}: {check_weights(celeba.weights)}")
