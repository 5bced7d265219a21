"""What metering the whole job costs per tick: the composite meter against a single one.

Modes, in shuffled interleaved rounds (each round times ``n`` ticks of every
mode): ``rapl`` (a fake sysfs tree: the file reads are real), an A/A copy of
it, ``synthetic`` (stands in for NVML, which cannot open without a GPU), and
``synthetic+rapl`` (the composite ``auto`` opens on a GPU node with RAPL).
A tick is ``Sampler.begin()``: one reading under the sampler's lock, its
per-phase and per-domain accumulation and its sample row, i.e. what the
sampler thread does every period and the training thread at every phase
change. Ratios are of median per-tick times, with 95 % intervals from
resampled rounds (:func:`energybench.bench.stats.paired_ratio`).
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .stats import paired_ratio

ROUNDS = 30
TICKS = 400


def _fake_rapl(root: Path) -> Path:
    for zone, name in (("intel-rapl:0", "package-0"), ("intel-rapl:0/intel-rapl:0:0", "dram")):
        z = root / zone
        z.mkdir(parents=True)
        (z / "name").write_text(name + "\n")
        (z / "energy_uj").write_text("1000\n")
        (z / "max_energy_range_uj").write_text("262143328850\n")
    return root


def _modes(root: Path) -> dict[str, Callable[[], Any]]:
    from ..meter.attribution import CpuAttribution, RULE_EXCLUSIVE
    from ..meter.composite import CompositeMeter
    from ..meter.rapl import RaplMeter
    from ..meter.synthetic import SyntheticMeter

    whole = CpuAttribution(1.0, True, 1, 1, "bench", RULE_EXCLUSIVE)
    return {
        "rapl": lambda: RaplMeter(root, attribution=whole),
        "rapl (A/A)": lambda: RaplMeter(root, attribution=whole),
        "synthetic": SyntheticMeter,
        "synthetic+rapl": lambda: CompositeMeter([SyntheticMeter(), RaplMeter(root, attribution=whole)]),
    }


def _tick_us(make: Callable[[], Any], n: int) -> float:
    from ..meter.sampler import Sampler

    meter = make()
    s = Sampler(meter, run_id="bench", attempt=1, period_s=3600.0, flush_s=3600.0, sink=lambda b: None)
    s.begin(1, "train")
    t0 = time.perf_counter()
    for i in range(n):
        s.begin(1, "train")  # the sampler thread's tick: same phase
    us = (time.perf_counter() - t0) / n * 1e6
    meter.close()
    return us


def measure(rounds: int = ROUNDS, ticks: int = TICKS, seed: int = 0) -> dict[str, list[list[float]]]:
    """Per-tick microseconds of every mode, one list per round (one value per round)."""
    out: dict[str, list[list[float]]] = {}
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        modes = _modes(_fake_rapl(Path(tmp) / "powercap"))
        for _ in range(rounds):
            order = list(modes)
            rng.shuffle(order)
            for name in order:
                out.setdefault(name, []).append([_tick_us(modes[name], ticks)])
    return out


def main(rounds: int = ROUNDS, ticks: int = TICKS) -> None:
    res = measure(rounds, ticks)
    med = {k: sorted(v[0] for v in rs)[len(rs) // 2] for k, rs in res.items()}
    print(f"one tick (Sampler.begin: reading, accumulation, sample row); {rounds} interleaved rounds x {ticks} ticks")
    for name, us in med.items():
        print(f"  {name:<16} {us:8.1f} us per tick (median)")
    for mode, base in (("rapl (A/A)", "rapl"), ("synthetic+rapl", "rapl"), ("synthetic+rapl", "synthetic")):
        r, lo, hi = paired_ratio(res[mode], res[base])
        print(f"  {mode} / {base}: {r:.3f} [{lo:.3f}, {hi:.3f}]")
    extra = med["synthetic+rapl"] - med["rapl"]
    print(f"composite over RAPL alone: +{extra:.1f} us per tick, {extra * 10 / 1e4:.4f} % of a 100-ms period "
          f"(the default 10 Hz), {extra * 100 / 1e4:.3f} % at 100 Hz")
