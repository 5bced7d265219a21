"""GPU specifications the offline estimators and the baselines use: CUDA cores, memory, TDP.

del Rey et al. pass the GPU to their regressors as (CUDA cores, memory in GB,
TDP in W) rather than as a name, so a model generalises across GPUs;
MLCO2 and Green Algorithms need the TDP. A run's GPU is its recorded
``gpu_name`` (what the driver reports, e.g. ``NVIDIA H100 80GB HBM3``), else
its ``hardware`` label (``h100``, ``a100``, ``rtx3090``); both are matched
against the same patterns. Figures are the vendors' board specifications
(the SXM variant where a bare family name is ambiguous).

``cpu`` is a documented pseudo-spec, so CPU runs (the demo) can be estimated:
no CUDA cores, no device memory, and a TDP of 15 W, the estimate meter's
per-core convention for one busy core (each demo run trains on one thread).
Its baseline numbers are a convention, not a hardware fact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import EstimateError


@dataclass(frozen=True)
class GpuSpec:
    """One accelerator as the estimators see it."""

    name: str  # canonical key, e.g. "h100-sxm"
    cuda_cores: int  # CUDA cores (FP32 lanes), count
    memory_gb: float  # device memory, GB
    tdp_w: float  # thermal design power (board power limit), watts


#: Pattern (full match on the squashed name, see :func:`squash`) -> spec. First match wins, so
#: specific variants come before their family.
GPUS: tuple[tuple[str, GpuSpec], ...] = (
    (r"h100.*pcie.*", GpuSpec("h100-pcie", 14_592, 80.0, 350.0)),
    (r"h100.*nvl.*", GpuSpec("h100-nvl", 16_896, 94.0, 400.0)),
    (r"h100.*", GpuSpec("h100-sxm", 16_896, 80.0, 700.0)),
    (r"(gh)?h200.*", GpuSpec("h200-sxm", 16_896, 141.0, 700.0)),
    (r"a100.*(80gb.*pcie|pcie.*80gb).*", GpuSpec("a100-pcie-80gb", 6_912, 80.0, 300.0)),
    (r"a100.*pcie.*", GpuSpec("a100-pcie-40gb", 6_912, 40.0, 250.0)),
    (r"a100.*80gb.*", GpuSpec("a100-sxm-80gb", 6_912, 80.0, 400.0)),
    (r"a100.*", GpuSpec("a100-sxm-40gb", 6_912, 40.0, 400.0)),
    (r"a40", GpuSpec("a40", 10_752, 48.0, 300.0)),
    (r"a30", GpuSpec("a30", 3_584, 24.0, 165.0)),
    (r"a10g?", GpuSpec("a10", 9_216, 24.0, 150.0)),
    (r"l40s", GpuSpec("l40s", 18_176, 48.0, 350.0)),
    (r"l40", GpuSpec("l40", 18_176, 48.0, 300.0)),
    (r"l4", GpuSpec("l4", 7_424, 24.0, 72.0)),
    (r"v100.*32gb.*", GpuSpec("v100-32gb", 5_120, 32.0, 300.0)),
    (r"v100.*", GpuSpec("v100-16gb", 5_120, 16.0, 300.0)),
    (r"t4", GpuSpec("t4", 2_560, 16.0, 70.0)),
    (r"rtx6000ada.*", GpuSpec("rtx6000-ada", 18_176, 48.0, 300.0)),
    (r"rtxa6000", GpuSpec("rtx-a6000", 10_752, 48.0, 300.0)),
    (r"rtx4090", GpuSpec("rtx4090", 16_384, 24.0, 450.0)),
    (r"rtx3090ti", GpuSpec("rtx3090ti", 10_752, 24.0, 450.0)),
    (r"rtx3090", GpuSpec("rtx3090", 10_496, 24.0, 350.0)),
    (r"rtx3080.*", GpuSpec("rtx3080", 8_704, 10.0, 320.0)),
    (r"rtx3070.*", GpuSpec("rtx3070", 5_888, 8.0, 220.0)),
    (r"rtx2080ti", GpuSpec("rtx2080ti", 4_352, 11.0, 250.0)),
    (r"gtx750ti", GpuSpec("gtx750ti", 640, 2.0, 60.0)),
)

#: The pseudo-spec of CPU runs (see the module docstring).
CPU = GpuSpec("cpu", 0, 0.0, 15.0)

_VENDOR_WORDS = ("nvidia", "geforce", "tesla", "quadro")


def squash(name: str) -> str:
    """Lower case, vendor words and every non-alphanumeric dropped: ``NVIDIA A100-SXM4-40GB`` -> ``a100sxm440gb``."""
    s = name.lower()
    for word in _VENDOR_WORDS:
        s = s.replace(word, "")
    return re.sub(r"[^a-z0-9]", "", s)


def known_gpus() -> list[str]:
    """Canonical names of every spec, for error messages and the README."""
    return [spec.name for _, spec in GPUS] + [CPU.name]


def lookup(name: str) -> GpuSpec | None:
    """The spec whose pattern matches ``name`` (a driver name, hardware label or canonical name), else None."""
    s = squash(name)
    if s in ("cpu", ""):
        return CPU if s == "cpu" else None
    for pattern, spec in GPUS:
        if re.fullmatch(pattern, s) or squash(spec.name) == s:
            return spec
    return None


def gpu_spec(name: str, *, where: str = "") -> GpuSpec:
    """The spec of ``name``; :class:`EstimateError` naming ``where`` (run, column) if unknown."""
    spec = lookup(name)
    if spec is None:
        prefix = f"{where}: " if where else ""
        raise EstimateError(f"{prefix}unknown GPU {name!r}: not in energybench's GPU table "
                            f"(known: {', '.join(known_gpus())}); add it to energybench/estimate/gpus.py")
    return spec


def run_gpu(gpu_name: str | None, hardware: str, device: str | None, *, where: str = "") -> GpuSpec:
    """The spec of one run: CPU runs get :data:`CPU`; else its driver name, else its hardware label."""
    if device == "cpu":
        return CPU
    if gpu_name:
        return gpu_spec(gpu_name, where=where)
    return gpu_spec(hardware, where=f"{where}: hardware" if where else "hardware")
