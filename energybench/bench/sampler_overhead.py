"""Sampler overhead on a CPU training loop, what one reading costs, and the cost per meter.

Three measurements, all against a baseline in the same run:

1. **Training loop** (the figure the targets are about): median step time of a
   PAMAP2-classifier training step (batch 64, one torch thread, so the sampler
   competes for the interpreter, not for a core) with the sampler at 10 Hz,
   100 Hz and 1 kHz, divided by the median without a sampler. Modes run in
   rounds (a block of steps each, shuffled order per round); a second
   no-sampler mode is an A/A control that shows the noise floor. 95% intervals
   resample whole rounds. A shared machine's step time can wobble by 10% from
   step to step, so the interval can be wider than the targets: it then says
   "not resolved" rather than pretending. The 1 kHz mode is a dose point: ten
   times the readings of the largest target rate, so its effect stands out of
   the noise; divided by its readings per second it gives the step time each
   reading costs and, assuming the cost is linear in the rate, the ratio
   projected to 10 and 100 Hz. (On a VM a busy second vCPU can also *speed up*
   the loop; a negative cost per reading says so.)
2. **Interpreter stall probe** (the worst case): a pure-Python loop that never
   releases the GIL, so every reading forces a hand-over of the interpreter;
   the time the loop loses with a 100 Hz sampler, minus without, per reading,
   gives a bound on the ratio at any rate (1 + rate x loss per reading). The
   loss is about two thread wake-up latencies of the operating system (the
   interpreter's forced switch), so it is large on virtual machines.
3. **The sampler thread itself**: microseconds per reading while holding the
   interpreter, and its CPU time per reading including the kernel's wake-up
   (which does not hold the interpreter), plus one ``read()`` per meter.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .stats import paired_difference_per_unit, paired_ratio, verdict

TARGETS = {10.0: 1.005, 100.0: 1.02}  # sampler rate, Hz -> largest acceptable median step-time ratio
MIN_ROUNDS = 20  # fewer rounds than this give no verdict: a bootstrap of a handful of rounds is not an interval
_BOUNDARY_READINGS = 3  # start(), begin() and stop() each take one reading besides the thread's


def _model_and_data(batch_size: int) -> tuple[Any, Any, Any, Any]:
    import torch

    from ..worker.models import Pamap2Classifier

    torch.manual_seed(0)
    model = Pamap2Classifier(in_channels=28)
    x = torch.randn(batch_size, 28, 256)
    y = torch.randint(0, 12, (batch_size,))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    return model, x, y, opt


def _steps(model: Any, x: Any, y: Any, opt: Any, n: int) -> list[float]:
    import torch.nn.functional as F

    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        out.append(time.perf_counter() - t0)
    return out


def _sampler(meter: Any, rate_hz: float) -> Any:
    from ..meter.sampler import Sampler

    return Sampler(meter, run_id="bench", attempt=1, period_s=1.0 / rate_hz, flush_s=1.0, sink=lambda _b: None)


def training_loop(seconds: float = 150.0, batch_size: int = 64, block_steps: int = 3,
                  rates_hz: tuple[float, ...] = (10.0, 100.0, 1000.0), seed: int = 0) -> dict[str, Any]:
    """Step times per mode and round (see the module docstring); modes are "off", "A/A" and the rates."""
    import torch

    from ..meter import open_meter

    torch.set_num_threads(1)
    model, x, y, opt = _model_and_data(batch_size)
    _steps(model, x, y, opt, 10)  # warm-up
    meter = open_meter("auto", device="cpu", log=lambda _: None)
    modes: list[Any] = ["off", "A/A", *rates_hz]
    rounds: dict[Any, list[list[float]]] = {m: [] for m in modes}
    readings: dict[Any, int] = {m: 0 for m in modes}
    rng = random.Random(seed)
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end or len(rounds["off"]) < 3:
        order = modes[:]
        rng.shuffle(order)
        for m in order:
            if isinstance(m, str):
                rounds[m].append(_steps(model, x, y, opt, block_steps))
                continue
            s = _sampler(meter, m)
            s.start()
            s.begin(1, "train")
            try:
                rounds[m].append(_steps(model, x, y, opt, block_steps))
            finally:
                s.stop()
            readings[m] += s.rows_flushed - _BOUNDARY_READINGS
    meter.close()
    return {"meter": meter.kind, "rounds": rounds, "readings": readings, "batch_size": batch_size}


def _busy_python(duration_s: float, gap_s: float = 20e-6) -> float:
    """Spin in pure Python for ``duration_s``; return the time lost in gaps longer than ``gap_s``."""
    pc = time.perf_counter
    last = pc()
    end = last + duration_s
    lost_s = 0.0
    while last < end:
        t = pc()
        if t - last > gap_s:
            lost_s += t - last
        last = t
    return lost_s


def _thread_cpu_s(thread: threading.Thread | None) -> float | None:
    if thread is None or thread.ident is None or not hasattr(time, "pthread_getcpuclockid"):
        return None
    try:
        return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
    except OSError:
        return None


def stall_probe(seconds: float = 30.0, rate_hz: float = 100.0, block_s: float = 0.5,
                seed: int = 0) -> dict[str, Any]:
    """Interpreter time a GIL-holding loop loses per sampler reading, and the thread's CPU per reading."""
    from ..meter import open_meter

    meter = open_meter("auto", device="cpu", log=lambda _: None)
    lost_on, lost_off, n_readings = [], [], []
    cpu_s, cpu_readings = 0.0, 0
    rng = random.Random(seed)
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end or len(lost_on) < 3:
        for on in rng.sample([False, True], 2):
            if not on:
                lost_off.append(_busy_python(block_s))
                continue
            s = _sampler(meter, rate_hz)
            s.start()
            c0 = _thread_cpu_s(s._thread)
            lost_on.append(_busy_python(block_s))
            c1 = _thread_cpu_s(s._thread)
            s.stop()
            n = s.rows_flushed - 2  # without start()'s and stop()'s own readings
            n_readings.append(n)
            if c0 is not None and c1 is not None:
                cpu_s, cpu_readings = cpu_s + c1 - c0, cpu_readings + n
    held_us = _held_us(meter)
    meter.close()
    return {"lost_per_reading_s": paired_difference_per_unit(lost_on, lost_off, n_readings),
            "thread_cpu_per_reading_s": cpu_s / cpu_readings if cpu_readings else None,
            "held_per_reading_us": held_us, "rounds": len(lost_on)}


def _held_us(meter: Any, n: int = 5000) -> float:
    """Microseconds one reading holds the interpreter: the meter's read plus the sampler's bookkeeping."""
    s = _sampler(meter, 1.0)  # never started: begin() is the whole reading path, on this thread
    s.begin(1, "train")
    t0 = time.perf_counter()
    for _ in range(n):
        s.begin(1, "train")
    held = (time.perf_counter() - t0) / n * 1e6
    s.stop()
    return held


def read_cost_us(n: int = 2000) -> dict[str, float]:
    """Microseconds per ``read()`` for every meter that can open here (RAPL on a fake tree)."""
    from ..meter.estimate import EstimateMeter
    from ..meter.rapl import RaplMeter
    from ..meter.synthetic import SyntheticMeter

    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        zone = Path(tmp) / "intel-rapl:0"
        zone.mkdir()
        (zone / "name").write_text("package-0\n")
        (zone / "energy_uj").write_text("1000\n")
        (zone / "max_energy_range_uj").write_text("262143328850\n")
        meters = {"synthetic": SyntheticMeter(), "estimate": EstimateMeter(),
                  "rapl (fake sysfs)": RaplMeter(root=Path(tmp))}
        try:
            import pynvml

            pynvml.nvmlInit()
            from ..meter.nvml import NvmlMeter

            meters["nvml"] = NvmlMeter()
        except Exception:
            pass
        for name, m in meters.items():
            m.read()
            t0 = time.perf_counter()
            for _ in range(n):
                m.read()
            out[name] = (time.perf_counter() - t0) / n * 1e6
            m.close()
    return out


def _judge(low: float, high: float, target: float, rounds: int) -> str:
    return verdict(low, high, target) if rounds >= MIN_ROUNDS else f"fewer than {MIN_ROUNDS} rounds"


def main(seconds: float = 150.0, probe_seconds: float = 30.0, batch_size: int = 64,
         probe_block_s: float = 0.5) -> None:
    """Run the three measurements and print them (``make bench``)."""
    loop = training_loop(seconds, batch_size)
    rounds, off = loop["rounds"], loop["rounds"]["off"]
    step_ms = statistics.median(v for r in off for v in r) * 1e3
    timed_s = {m: sum(v for r in rs for v in r) for m, rs in rounds.items()}
    print(f"training loop: PAMAP2 classifier, batch {loop['batch_size']}, 1 torch thread, {loop['meter']} meter; "
          f"median step {step_ms:.1f} ms; {len(off)} interleaved rounds x {len(off[0])} steps per mode")
    dose: tuple[float, float, float, float] | None = None
    print(f"  {'mode':<8} {'median ratio':>12}  {'95% interval':<17} {'mean ratio':>10}  {'readings/s':>10}")
    for m in rounds:
        if m == "off":
            continue
        ratio, lo, hi = paired_ratio(rounds[m], off)
        mean_ratio = paired_ratio(rounds[m], off, statistics.fmean, n_boot=1)[0]
        rate = f"{loop['readings'][m] / timed_s[m]:10.1f}" if not isinstance(m, str) else f"{'-':>10}"
        label = m if isinstance(m, str) else f"{m:g} Hz"
        note = ""
        if m in TARGETS:
            note = f"  target <= {TARGETS[m]:g}: {_judge(lo, hi, TARGETS[m], len(off))}"
        print(f"  {label:<8} {ratio:12.4f}  [{lo:.4f}, {hi:.4f}] {mean_ratio:10.4f}  {rate}{note}")
        if m == max(r for r in rounds if not isinstance(r, str)):  # the dose point: the largest effect
            per_s = loop["readings"][m] / timed_s[m]
            dose = (per_s, *((v - 1.0) / per_s for v in (ratio, lo, hi)))
    if dose is not None:
        per_s, cost_s, lo_s, hi_s = dose
        print(f"  step time per reading from the {per_s:.0f}/s mode: {cost_s * 1e6:.1f} us "
              f"[{lo_s * 1e6:.1f}, {hi_s * 1e6:.1f}]; projected, linear in readings/s: " + ", ".join(
                  f"{hz:g} Hz {1 + hz * cost_s:.4f} [{1 + hz * lo_s:.4f}, {1 + hz * hi_s:.4f}] (<= {t:g}: "
                  f"{_judge(1 + hz * lo_s, 1 + hz * hi_s, t, len(off))})"
                  for hz, t in TARGETS.items()))
    probe = stall_probe(probe_seconds, block_s=probe_block_s)
    lost, lo, hi = probe["lost_per_reading_s"]
    print(f"interpreter stall probe (pure-Python loop that never releases the GIL; worst case), "
          f"{probe['rounds']} rounds: {lost * 1e6:.1f} us lost per reading [{lo * 1e6:.1f}, {hi * 1e6:.1f}]"
          f" -> bound on the ratio: " + ", ".join(
              f"{hz:g} Hz {1 + hz * lost:.4f} [{1 + hz * lo:.4f}, {1 + hz * hi:.4f}] (<= {t:g}: "
              f"{_judge(1 + hz * lo, 1 + hz * hi, t, probe['rounds'])})" for hz, t in TARGETS.items()))
    cpu = probe["thread_cpu_per_reading_s"]
    print(f"sampler thread per reading: {probe['held_per_reading_us']:.1f} us holding the interpreter; "
          + (f"{cpu * 1e6:.1f} us CPU including the kernel's timer wake-up" if cpu is not None else "CPU n/a"))
    print("cost of one meter reading:")
    for name, us in read_cost_us().items():
        print(f"  {name:<18} {us:8.1f} us")
    sys.stdout.flush()
