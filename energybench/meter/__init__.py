"""Meters: one small protocol (:class:`Meter`), four backends, one factory.

* ``nvml``: GPU energy counter and power of the job's visible GPUs.
* ``rapl``: CPU package + DRAM energy counters (Linux powercap).
* ``estimate``: labelled TDP x CPU-utilisation estimate (no hardware counter).
* ``synthetic``: labelled deterministic trace, for tests and demos.

``auto`` opens every one of NVML and RAPL that works, as one composite
(:mod:`.composite`: per-domain gpu/cpu/dram values and their sum).

:func:`open_meter` picks and opens one; the sampler (:mod:`.sampler`) drives
any of them without knowing which.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from ..errors import MeterError
from .base import DeviceLostError, Meter, Reading
from .composite import CompositeMeter

__all__ = ["KINDS", "DeviceLostError", "Meter", "MeterError", "Reading", "SelectedMeter", "open_meter"]

KINDS = ("auto", "nvml", "rapl", "estimate", "synthetic")


def print_to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class SelectedMeter:
    """The meter :func:`open_meter` opened, with how it was chosen added to ``info()``.

    ``read`` and ``close`` are the wrapped meter's own bound methods (no extra
    call on the hot path); other attributes (e.g. ``set_load``) pass through.
    """

    def __init__(self, meter: Meter, requested: str, selection: list[str]) -> None:
        self.meter = meter
        self.kind = meter.kind
        self.requested = requested
        self.selection = selection  # why each backend tried before was not used
        self.read = meter.read
        self.close = meter.close

    def info(self) -> dict[str, Any]:
        return {**self.meter.info(), "requested": self.requested, "selection": list(self.selection)}

    def __getattr__(self, name: str) -> Any:
        if name == "meter":  # not yet set (e.g. while unpickling)
            raise AttributeError(name)
        return getattr(self.meter, name)


def _open(kind: str, tdp_w: float | None, device: str) -> Meter:
    if kind == "nvml":
        from .nvml import NvmlMeter

        return NvmlMeter()
    if kind == "rapl":
        from .rapl import RaplMeter

        return RaplMeter()
    if kind == "estimate":
        from .estimate import EstimateMeter

        return EstimateMeter(tdp_w=tdp_w, device=device)
    if kind == "synthetic":
        from .synthetic import SyntheticMeter

        return SyntheticMeter()
    raise MeterError(f"meter kind {kind!r} is not one of {', '.join(repr(k) for k in KINDS)}")


def _describe(meter: Meter) -> str:
    info = meter.info()
    if "parts" in info:
        return " + ".join(_describe_info(i) for i in info["parts"])
    return _describe_info(info)


def _describe_info(info: dict[str, Any]) -> str:
    kind = info["kind"]
    if kind == "nvml":
        names = ", ".join(f"{d['index']}:{d['name']}" for d in info["devices"])
        return f"{len(info['devices'])} GPU(s) [{names}], energy from {info['sources']['energy_j'] or 'power integral'}"
    if kind == "rapl":
        share = info.get("cpu_attribution", {})
        part = "" if share.get("exclusive", True) else f", {share['share_frac']:.0%} attributed to this job"
        return "RAPL domains " + ", ".join(f"{d['zone']}({d['name']})" for d in info["domains"]) + part
    if kind == "estimate":
        return f"CPU TDP x utilisation, {info['tdp_source']} (an estimate, not a measurement)"
    return "synthetic trace (not a measurement)"


def open_meter(kind: str, *, tdp_w: float | None = None, device: str = "cpu",
               log: Callable[[str], None] = print_to_stderr) -> Meter:
    """Open the meter ``kind`` (``auto`` | ``nvml`` | ``rapl`` | ``estimate`` | ``synthetic``).

    ``auto`` meters every domain it can read, at once: NVML for the job's GPUs
    (only when ``device`` is a CUDA device: a CPU run is not charged for an idle
    GPU) and RAPL for the CPU packages and DRAM, as one
    :class:`~.composite.CompositeMeter` when both open; where neither does, the
    labelled estimate. It logs one line saying what it opened and why the
    others were not used. An explicit ``nvml`` or ``rapl`` that cannot open
    raises :class:`MeterError`. ``tdp_w`` (watts) is the CPU TDP used by the estimate.
    """
    if kind != "auto":
        try:
            meter = _open(kind, tdp_w, device)
        except MeterError as exc:
            raise MeterError(f"meter {kind!r} cannot open: {exc}") from None
        if kind == "estimate" and device != "cpu":
            log(f"energybench: meter 'estimate' covers this process's CPU time only; the {device} device is not metered")
        return SelectedMeter(meter, kind, [])

    order = ["nvml", "rapl"] if device.startswith("cuda") else ["rapl"]
    skipped = [] if device.startswith("cuda") else [f"nvml: not tried (training on {device})"]
    parts: list[Meter] = []
    for candidate in order:
        try:
            parts.append(_open(candidate, tdp_w, device))
        except MeterError as exc:  # its message names the backend ("NVML ...", "RAPL: ...")
            skipped.append(str(exc))
    if not parts:
        parts.append(_open("estimate", tdp_w, device))
    meter: Meter = parts[0] if len(parts) == 1 else CompositeMeter(parts)
    why = f" (not used: {'; '.join(skipped)})" if skipped else ""
    if meter.kind == "estimate" and device != "cpu":
        why += f"; the {device} device is not metered"
    log(f"energybench: meter auto -> {meter.kind}: {_describe(meter)}{why}")
    return SelectedMeter(meter, "auto", skipped)
