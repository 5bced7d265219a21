"""The NVML meter against ``pynvml`` patched with autospec (no GPU needed)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pyarrow as pa
import pynvml as real
import pytest

from energybench.errors import MeterError
from energybench.meter import open_meter
from energybench.meter.base import DeviceLostError
from energybench.meter.nvml import NvmlMeter
from energybench.meter.sampler import Sampler

UUIDS = ["GPU-aaaa1111-0000", "GPU-bbbb2222-0000", "GPU-bbbc3333-0000", "GPU-dddd4444-0000"]


def nvml_error(code: int) -> real.NVMLError:
    return real.NVMLError(code)


def power_field(mw: int, ret: int = real.NVML_SUCCESS) -> list[Any]:
    v = real.c_nvmlFieldValue_t()
    v.fieldId = real.NVML_FI_DEV_POWER_INSTANT
    v.valueType = real.NVML_VALUE_TYPE_UNSIGNED_INT
    v.nvmlReturn = ret
    v.value.uiVal = mw
    return [v]


class FakeGpus:
    """Scripts the patched ``pynvml``: per-handle energy counters (mJ) and power traces (mW)."""

    def __init__(self, m: Any, uuids: list[str] = UUIDS) -> None:
        self.m = m
        self.handles = [f"h{i}" for i in range(len(uuids))]
        self.energy_mj: dict[str, Iterator[int]] = {h: iter(range(1_000, 10**9, 500)) for h in self.handles}
        self.power_mw: dict[str, Iterator[int]] = {h: iter(range(100_000, 10**9, 1_000)) for h in self.handles}
        # nvmlDeviceGetPowerUsage (the 1-s average): its own trace, so the instantaneous one stays scripted
        self.usage_mw: dict[str, Iterator[int]] = {h: iter(range(90_000, 10**9, 1_000)) for h in self.handles}
        m.nvmlDeviceGetCount.return_value = len(uuids)
        m.nvmlDeviceGetHandleByIndex.side_effect = lambda i: self.handles[i]
        m.nvmlDeviceGetUUID.side_effect = lambda h: uuids[self.handles.index(h)]
        m.nvmlDeviceGetName.side_effect = lambda h: "NVIDIA H100 80GB HBM3"
        m.nvmlDeviceGetEnforcedPowerLimit.return_value = 700_000
        m.nvmlSystemGetDriverVersion.return_value = "550.54.15"
        m.nvmlSystemGetCudaDriverVersion.return_value = 12040
        m.nvmlDeviceGetTotalEnergyConsumption.side_effect = lambda h: next(self.energy_mj[h])
        m.nvmlDeviceGetFieldValues.side_effect = self.fields
        m.nvmlDeviceGetPowerUsage.side_effect = lambda h: next(self.usage_mw[h])
        m.nvmlDeviceGetUtilizationRates.return_value = real.c_nvmlUtilization_t(gpu=80, memory=30)
        m.nvmlDeviceGetMemoryInfo.return_value = real.c_nvmlMemory_t(total=80 << 30, free=70 << 30, used=10 << 30)
        m.nvmlDeviceGetTemperature.side_effect = lambda h, sensor: 60 + self.handles.index(h)
        m.nvmlDeviceGetClockInfo.return_value = 1_980

    def fields(self, h: str, ids: list[Any]) -> list[Any]:
        """Instantaneous power; a scoped field (memory power, Hopper and later) is not supported."""
        if isinstance(ids[0], tuple):
            return power_field(0, real.NVML_ERROR_NOT_SUPPORTED)
        return power_field(next(self.power_mw[h]))

    def called_handles(self, fn: Any) -> set[str]:
        return {c.args[0] for c in fn.call_args_list}


@pytest.fixture(scope="module")
def pynvml_spec() -> Any:
    """An autospec of ``pynvml`` (built once: it takes ~0.3 s); constants, exceptions
    and structs stay real."""
    m = mock.create_autospec(real)
    for name in dir(real):
        if name.startswith(("NVML_", "NVMLError", "c_nvml")):
            setattr(m, name, getattr(real, name))
    return m


@pytest.fixture
def pynvml_mock(pynvml_spec: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``pynvml`` patched with the autospec, every call's script and record reset."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    pynvml_spec.reset_mock(return_value=True, side_effect=True)
    with mock.patch("energybench.meter.nvml.pynvml", new=pynvml_spec):
        yield pynvml_spec


@pytest.fixture
def gpus(pynvml_mock: Any) -> FakeGpus:
    return FakeGpus(pynvml_mock)


def test_energy_is_the_exact_counter_delta(gpus: FakeGpus, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    gpus.energy_mj["h0"] = iter([5_000, 5_250, 6_000, 9_125])
    meter = NvmlMeter()
    assert [meter.read().energy_j for _ in range(3)] == [0.25, 1.0, 4.125]
    info = meter.info()
    assert info["sources"]["energy_j"] == "nvmlDeviceGetTotalEnergyConsumption"
    assert info["sources"]["power_w"] == "nvmlDeviceGetFieldValues(NVML_FI_DEV_POWER_INSTANT)"
    assert info["devices"] == [{"index": 0, "uuid": UUIDS[0], "name": "NVIDIA H100 80GB HBM3", "power_limit_w": 700.0}]
    assert info["driver_version"] == "550.54.15" and info["cuda_version"] == "12.4"


def test_readings_sum_power_and_energy_over_visible_gpus(gpus: FakeGpus, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    gpus.energy_mj = {"h0": iter([0, 1_000]), "h1": iter([0, 3_000])}
    gpus.power_mw = {"h0": iter([0, 150_000]), "h1": iter([0, 250_500])}  # first: the probe at open
    r = NvmlMeter().read()
    assert r.energy_j == 4.0 and r.power_w == pytest.approx(400.5)
    assert r.util_pct == 80 and r.mem_used_mib == 2 * 10 * 1024 and r.temperature_c == 61 and r.sm_clock_mhz == 1980


def test_counter_reset_keeps_accumulating_from_the_new_value(gpus: FakeGpus, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    gpus.energy_mj["h0"] = iter([5_000, 7_000, 1_000, 4_000])
    meter = NvmlMeter()
    assert [meter.read().energy_j for _ in range(3)] == [2.0, 3.0, 6.0]
    assert meter.info()["counter_resets"] == 1


def test_no_energy_counter_gives_none_and_says_so(gpus: FakeGpus, pynvml_mock: Any) -> None:
    pynvml_mock.nvmlDeviceGetTotalEnergyConsumption.side_effect = nvml_error(real.NVML_ERROR_NOT_SUPPORTED)
    gpus.power_mw["h0"] = iter([0, 100_000])  # first: the probe at open
    meter = NvmlMeter(cuda_visible_devices="0")
    r = meter.read()
    assert r.energy_j is None and r.power_w == 100.0
    assert meter.info()["sources"]["energy_j"] is None


def test_no_instant_power_falls_back_to_power_usage(gpus: FakeGpus, pynvml_mock: Any) -> None:
    pynvml_mock.nvmlDeviceGetFieldValues.side_effect = lambda h, ids: power_field(0, real.NVML_ERROR_NOT_SUPPORTED)
    gpus.usage_mw["h0"] = iter([0, 123_000])  # first: the probe at open
    meter = NvmlMeter(cuda_visible_devices="0")
    assert meter.info()["sources"]["power_w"] == "nvmlDeviceGetPowerUsage"
    assert meter.read().power_w == 123.0
    assert pynvml_mock.nvmlDeviceGetPowerUsage.call_count == 2


def test_secondary_quantities_not_supported_are_none(gpus: FakeGpus, pynvml_mock: Any) -> None:
    pynvml_mock.nvmlDeviceGetTemperature.side_effect = nvml_error(real.NVML_ERROR_NOT_SUPPORTED)
    pynvml_mock.nvmlDeviceGetClockInfo.side_effect = nvml_error(real.NVML_ERROR_FUNCTION_NOT_FOUND)
    meter = NvmlMeter(cuda_visible_devices="0")
    r = meter.read()
    assert r.temperature_c is None and r.sm_clock_mhz is None and r.power_w is not None
    assert meter.info()["sources"]["temperature_c"] is None


@pytest.mark.parametrize(("visible", "expected"), [
    (None, ["h0", "h1", "h2", "h3"]),
    ("1,3", ["h1", "h3"]),
    ("3, 1", ["h3", "h1"]),
    ("2,-1,0", ["h2"]),  # CUDA: a negative index hides itself and what follows
    (UUIDS[3], ["h3"]),
    ("GPU-aaaa,GPU-bbbb2", ["h0", "h1"]),  # unique prefixes
    (f"{UUIDS[1]},1", ["h1"]),  # the same GPU twice counts once
])
def test_cuda_visible_devices_selects_only_those_gpus(gpus: FakeGpus, pynvml_mock: Any,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      visible: str | None, expected: list[str]) -> None:
    if visible is not None:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    meter = NvmlMeter()
    assert [g.handle for g in meter.gpus] == expected
    pynvml_mock.nvmlDeviceGetTotalEnergyConsumption.reset_mock()
    pynvml_mock.nvmlDeviceGetFieldValues.reset_mock()
    meter.read()
    assert gpus.called_handles(pynvml_mock.nvmlDeviceGetTotalEnergyConsumption) == set(expected)
    assert gpus.called_handles(pynvml_mock.nvmlDeviceGetFieldValues) == set(expected)
    assert [d["uuid"] for d in meter.info()["devices"]] == [UUIDS[int(h[1])] for h in expected]


@pytest.mark.parametrize(("visible", "match"), [
    ("7", r"names GPU 7, but NVML sees 4 GPU\(s\)"),
    ("GPU-ffff", "matches no GPU"),
    ("GPU-bbb", "matches 2 GPUs"),
    ("", "no GPU visible"),
    ("-1", "no GPU visible"),
    ("nvidia0", "cannot read 'nvidia0'"),
])
def test_bad_cuda_visible_devices_is_a_clear_error(gpus: FakeGpus, pynvml_mock: Any, visible: str, match: str) -> None:
    with pytest.raises(MeterError, match=match):
        NvmlMeter(cuda_visible_devices=visible)
    pynvml_mock.nvmlShutdown.assert_called_once()


def test_gpus_this_job_cannot_open_are_never_metered(gpus: FakeGpus, pynvml_mock: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def handle(i: int) -> str:
        if i == 2:  # another job's GPU behind cgroup device limits
            raise nvml_error(real.NVML_ERROR_NO_PERMISSION)
        return gpus.handles[i]

    pynvml_mock.nvmlDeviceGetHandleByIndex.side_effect = handle
    assert [g.handle for g in NvmlMeter().gpus] == ["h0", "h1", "h3"]
    with pytest.raises(MeterError, match="names GPU 2, which this job cannot open"):
        NvmlMeter(cuda_visible_devices="2")


def test_mig_instance_meters_its_parent_gpu(gpus: FakeGpus, pynvml_mock: Any) -> None:
    pynvml_mock.nvmlDeviceGetHandleByUUID.side_effect = lambda u: "mig-handle"
    pynvml_mock.nvmlDeviceGetDeviceHandleFromMigDeviceHandle.side_effect = lambda h: "h2"
    meter = NvmlMeter(cuda_visible_devices="MIG-1234abcd-5678")
    assert [g.handle for g in meter.gpus] == ["h2"]
    assert "whole parent GPU" in meter.info()["mig"]["note"]
    old_style = NvmlMeter(cuda_visible_devices=f"MIG-{UUIDS[1]}/1/0")
    assert [g.handle for g in old_style.gpus] == ["h1"]


def test_nvml_errors_become_meter_errors(gpus: FakeGpus, pynvml_mock: Any) -> None:
    meter = NvmlMeter(cuda_visible_devices="0")
    pynvml_mock.nvmlDeviceGetTotalEnergyConsumption.side_effect = nvml_error(real.NVML_ERROR_UNKNOWN)
    with pytest.raises(MeterError, match="NVML energy_mj") as info:
        meter.read()
    assert not isinstance(info.value, DeviceLostError)
    pynvml_mock.nvmlDeviceGetTotalEnergyConsumption.side_effect = nvml_error(real.NVML_ERROR_GPU_IS_LOST)
    with pytest.raises(DeviceLostError, match="GPU is lost"):
        meter.read()


def test_explicit_nvml_without_a_driver_fails_in_one_line(pynvml_mock: Any) -> None:
    pynvml_mock.nvmlInit.side_effect = nvml_error(real.NVML_ERROR_DRIVER_NOT_LOADED)
    with pytest.raises(MeterError, match=r"^meter 'nvml' cannot open: NVML init: .*no NVIDIA driver") as info:
        open_meter("nvml")
    assert "\n" not in str(info.value)


def test_auto_picks_nvml_for_a_gpu_run_and_says_so(gpus: FakeGpus) -> None:
    lines: list[str] = []
    meter = open_meter("auto", device="cuda", log=lines.append)
    assert meter.kind == "nvml" and meter.info()["requested"] == "auto"
    assert len(lines) == 1 and "auto -> nvml" in lines[0] and "4 GPU(s)" in lines[0]


def test_auto_falls_back_without_nvml(pynvml_mock: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    from energybench.meter import rapl

    monkeypatch.setattr(rapl, "DEFAULT_ROOT", tmp_path / "no-powercap")
    pynvml_mock.nvmlInit.side_effect = nvml_error(real.NVML_ERROR_LIBRARY_NOT_FOUND)
    lines: list[str] = []
    meter = open_meter("auto", device="cuda", log=lines.append)
    assert meter.kind == "estimate" and meter.info()["requested"] == "auto"
    assert len(lines) == 1 and "auto -> estimate" in lines[0] and "NVML init" in lines[0] and "RAPL:" in lines[0]
    assert len(meter.info()["selection"]) == 2


def test_auto_does_not_charge_a_cpu_run_for_the_gpu(gpus: FakeGpus, pynvml_mock: Any) -> None:
    meter = open_meter("auto", device="cpu", log=lambda line: None)
    assert meter.kind in ("rapl", "estimate")
    pynvml_mock.nvmlInit.assert_not_called()


def test_gpu_lost_mid_run_is_recorded_and_stop_ends_cleanly(gpus: FakeGpus, pynvml_mock: Any,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    meter = NvmlMeter(cuda_visible_devices="0")
    lose = threading.Event()
    calls = {"ok": 0, "after_loss": 0}

    def energy(h: str) -> int:
        if lose.is_set():
            calls["after_loss"] += 1
            raise nvml_error(real.NVML_ERROR_GPU_IS_LOST)
        calls["ok"] += 1
        return 1_000 + 1_000 * calls["ok"]

    pynvml_mock.nvmlDeviceGetTotalEnergyConsumption.side_effect = energy
    batches: list[Any] = []
    sampler = Sampler(meter, run_id="r", attempt=1, period_s=0.01, flush_s=10.0, sink=batches.append)
    sampler.start()
    train = sampler.begin(1, "train")
    assert train is not None
    time.sleep(0.05)
    lose.set()
    deadline = time.monotonic() + 5.0
    while not sampler.lost and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sampler.lost
    assert sampler.begin(1, "eval") is None  # training goes on; no more readings
    sampler.stop()
    sampler.stop()
    assert len(sampler.errors) == 1 and sampler.errors[0].startswith("DeviceLostError: NVML")
    assert calls["after_loss"] == 1  # nothing read after the loss
    rows = pa.Table.from_batches(batches)
    assert sampler.rows_flushed == rows.num_rows == calls["ok"]
    last_energy_j = rows.column("energy_j").to_pylist()[-1]
    stats = sampler.stats(1, ("train",))
    assert stats is not None and stats.counter_energy_j == pytest.approx(last_energy_j - train.energy_j)
    assert capsys.readouterr().err.count("GPU is lost") == 1


def test_counter_period_is_the_median_step_of_a_stepping_counter() -> None:
    from energybench.meter.nvml import counter_period_s

    t = [0.0]

    def clock() -> float:
        t[0] += 0.001  # every poll advances 1 ms
        return t[0]

    def read() -> float:
        return float(int(t[0] / 0.02))  # steps every 20 ms

    assert counter_period_s(read, clock, budget_s=1.0, poll_s=0.0) == pytest.approx(0.02, abs=0.0025)
    assert counter_period_s(lambda: 7.0, clock, budget_s=0.05, poll_s=0.0) is None  # never steps


def test_open_measures_the_update_period_and_reads_both_power_fields(
        gpus: FakeGpus, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    gpus.energy_mj["h0"] = iter(range(0, 10**9, 7))  # steps at every read
    gpus.usage_mw["h0"] = iter([200_000] * 100)
    meter = NvmlMeter(counter_period_probe_s=0.05)
    assert meter.counter_period_s is not None and meter.counter_period_s < 0.05
    r = meter.read()
    assert r.gpu_power_avg_w == pytest.approx(200.0) and r.gpu_power_w == r.power_w
    assert r.gpu_energy_j == r.energy_j and r.gpu_mem_power_w is None  # memory power: not on this GPU
    info = meter.info()
    assert info["sources"]["power_avg_w"] == "nvmlDeviceGetPowerUsage" and info["sources"]["mem_power_w"] is None
    assert info["counter_period_s"] == meter.counter_period_s and info["energy_domains"] == ["gpu"]
