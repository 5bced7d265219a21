"""Whole-job energy: autospec'd NVML and a fake RAPL tree read together, one reading per tick."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from energybench.meter import open_meter, rapl
from energybench.meter.attribution import cpu_attribution
from energybench.meter.base import Reading
from energybench.meter.composite import combine
from energybench.meter.sampler import Sampler
from energybench.worker.train import epoch_row

from .test_nvml import FakeGpus, gpus, pynvml_mock, pynvml_spec  # noqa: F401 (fixtures)


def test_combine_keeps_domains_apart_and_sums_them() -> None:
    gpu = Reading(1.0, 300.0, 30.0, util_pct=90.0, gpu_power_w=300.0, gpu_energy_j=30.0)
    cpu = Reading(1.001, 60.0, 9.0, cpu_power_w=50.0, cpu_energy_j=7.0, dram_power_w=10.0, dram_energy_j=2.0)
    r = combine([gpu, cpu])
    assert (r.power_w, r.energy_j, r.util_pct, r.time_s) == (360.0, 39.0, 90.0, 1.001)
    assert r.domains() == ("gpu", "cpu", "dram")
    est = Reading(1.0, 20.0, None, cpu_power_w=20.0)  # a domain without a counter: no total counter
    assert combine([gpu, est]).energy_j is None and combine([gpu, est]).power_w == 320.0


def _rapl_tree(root: Path) -> dict[str, Path]:
    zones = {"pkg": root / "intel-rapl:0", "dram": root / "intel-rapl:0" / "intel-rapl:0:0"}
    for name, z in zones.items():
        z.mkdir(parents=True, exist_ok=True)
        (z / "name").write_text("package-0\n" if name == "pkg" else "dram\n")
        (z / "energy_uj").write_text("0\n")
    return zones


def test_one_run_meters_gpu_cpu_and_dram_and_the_parts_add_up(
        gpus: FakeGpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    zones = _rapl_tree(tmp_path / "powercap")
    monkeypatch.setattr(rapl, "DEFAULT_ROOT", tmp_path / "powercap")
    proc, sys = tmp_path / "proc", tmp_path / "sys"  # an exclusive node: nothing to attribute
    monkeypatch.setattr(rapl, "cpu_attribution", lambda: cpu_attribution(proc, sys, affinity=set(range(4))))
    ticks = {"n": 0}

    def rapl_step() -> None:  # the sockets' counters advance with every GPU counter read
        ticks["n"] += 1
        (zones["pkg"] / "energy_uj").write_text(f"{ticks['n'] * 40_000}\n")  # 40 mJ per tick
        (zones["dram"] / "energy_uj").write_text(f"{ticks['n'] * 10_000}\n")  # 10 mJ per tick (its own zone)

    energy = iter(range(1_000, 10**9, 500))

    def energy_mj(h: Any) -> int:
        rapl_step()
        return next(energy)

    gpus.m.nvmlDeviceGetTotalEnergyConsumption.side_effect = energy_mj
    lines: list[str] = []
    meter = open_meter("auto", device="cuda", log=lines.append)
    assert meter.kind == "nvml+rapl" and "1 GPU(s)" in lines[0] and "RAPL domains" in lines[0]
    assert meter.info()["energy_domains"] == ["gpu", "cpu", "dram"]
    batches: list[Any] = []
    s = Sampler(meter, run_id="r", attempt=1, period_s=0.005, flush_s=60.0, sink=batches.append)
    s.start()
    s.begin(1, "train")
    for _ in range(20):
        s.begin(1, "train")
    s.begin(1, "eval")
    s.begin(1, "checkpoint")
    stats = s.stats(1)
    s.stop()
    meter.close()
    row = epoch_row(_Spec(), 1, 1, 0.0, 1.0, stats, None, None, None, None)
    assert row["energy_domains"] == "gpu+cpu+dram"
    parts = row["gpu_energy_j"] + row["cpu_energy_j"] + row["dram_energy_j"]
    assert row["energy_j"] == pytest.approx(parts)
    assert row["gpu_energy_j"] > 0 and row["cpu_energy_j"] > 0 and row["dram_energy_j"] > 0
    assert row["cpu_energy_j"] == pytest.approx(4 * row["dram_energy_j"], rel=0.05)
    table = batches[0]
    for col in ("gpu_energy_j", "cpu_energy_j", "dram_energy_j", "gpu_power_w", "cpu_power_w", "dram_power_w"):
        assert table.column(col).null_count < table.num_rows, col


class _Spec:
    run_id = "r"
