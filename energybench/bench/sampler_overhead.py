"""Sampler overhead on a CPU training loop, and the cost of one reading per meter.

Sampler off vs on at 10 Hz and at 100 Hz, interleaved in rotating order over
repeats in one process; the figure is the median step time with the sampler
divided by the median without (targets: <= 1.005 at 10 Hz, <= 1.02 at 100 Hz).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


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


def sampler_overhead(repeats: int = 9, steps: int = 30, batch_size: int = 64) -> dict[str, Any]:
    """Median step time with the sampler at 10 Hz and 100 Hz relative to no sampler.

    One torch thread, so the sampler thread competes for the interpreter, not for cores.
    """
    import torch

    torch.set_num_threads(1)
    from ..meter import open_meter
    from ..meter.sampler import Sampler

    model, x, y, opt = _model_and_data(batch_size)
    _steps(model, x, y, opt, 10)  # warm-up
    modes: list[float | None] = [None, 0.1, 0.01]
    times: dict[float | None, list[float]] = {m: [] for m in modes}
    meter = open_meter("auto", device="cpu", log=lambda _: None)
    rows = 0
    for r in range(repeats):
        order = modes[r % 3:] + modes[:r % 3]
        for period in order:
            if period is None:
                times[None] += _steps(model, x, y, opt, steps)
                continue
            sink_rows: list[int] = []
            s = Sampler(meter, run_id="bench", attempt=1, period_s=period, flush_s=1.0,
                        sink=lambda b: sink_rows.append(b.num_rows))
            s.start()
            s.begin(1, "train")
            try:
                times[period] += _steps(model, x, y, opt, steps)
            finally:
                s.stop()
            rows += sum(sink_rows)
    meter.close()
    base = statistics.median(times[None])
    return {
        "meter": meter.kind,
        "step_ms_off": base * 1e3,
        "ratio_10hz": statistics.median(times[0.1]) / base,
        "ratio_100hz": statistics.median(times[0.01]) / base,
        "steps_per_mode": len(times[None]),
        "samples_taken": rows,
    }


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


def main() -> None:
    res = sampler_overhead()
    print(f"sampler overhead ({res['meter']} meter, CPU training step {res['step_ms_off']:.2f} ms, "
          f"{res['steps_per_mode']} steps per mode, interleaved):")
    print(f"  10 Hz : median step-time ratio {res['ratio_10hz']:.4f}  (target <= 1.005)")
    print(f"  100 Hz: median step-time ratio {res['ratio_100hz']:.4f}  (target <= 1.02)")
    print("cost of one meter reading:")
    for name, us in read_cost_us().items():
        print(f"  {name:<18} {us:8.1f} us")
