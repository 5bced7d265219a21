"""The validation's pure parts (integrals, shapes, the report, the layout) and the NVML probe against
the simulated GPU, including a container that hides quantities."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from energybench.validate import power
from energybench.validate.context import Context, SkipStep
from energybench.validate.fakegpu import HIDEABLE, SimulatedGpu, patched_nvml
from energybench.validate.layout import ValidationPaths, is_under, slug
from energybench.validate.nvmlprobe import QUANTITIES, Recorder, probe, shutdown
from energybench.validate.profiles import FAKE, GPU
from energybench.validate.report import FAKE_BANNER, StepResult, Verdict, render
from energybench.validate.steps_power import run_counter_period, run_nvml, run_steady
from energybench.validate.steps_training import published_curve, shape, study_cases


def test_trapezoid_and_agreement() -> None:
    t = [0.0, 1.0, 2.0, 3.0]
    p = [100.0, 100.0, 200.0, None]
    assert power.trapezoid_j(t, p) == pytest.approx(250.0)  # the interval with a missing end is skipped
    a = power.agreement(t, [0.0, 100.0, 250.0, 400.0], [100.0, 100.0, 200.0, 150.0])
    assert a is not None and a.counter_j == 400.0 and a.integral_j == pytest.approx(425.0)
    assert a.difference_pct == pytest.approx(6.25) and a.window_s == 3.0 and a.readings == 4
    assert power.agreement([0.0], [1.0], [1.0]) is None
    assert power.mean_power_w(t, [None, 10.0, 30.0, 50.0]) == pytest.approx(20.0)


def test_every_picks_what_a_slower_sampler_would_have_read() -> None:
    t = [i * 0.01 for i in range(101)]  # 100 Hz for 1 s
    idx = power.every(10.0, t)
    assert idx == list(range(0, 101, 10))
    jittered = [0.0, 0.04, 0.11, 0.13, 0.19, 0.24, 0.31]
    assert power.every(10.0, jittered) == [0, 2, 5, 6]  # the first reading at or after 0, 0.1, 0.2, 0.3


def test_update_period_is_the_median_time_between_changes() -> None:
    t = [i * 0.001 for i in range(1000)]
    v = [float(int(x / 0.02)) for x in t]  # steps every 20 ms
    assert power.update_period_s(t, v) == pytest.approx(0.02, abs=0.002)
    assert power.update_period_s(t, [1.0] * len(t)) is None


def test_shapes_compare_with_the_published_matrix() -> None:
    pamap2 = published_curve("pamap2-baseline")
    assert list(pamap2) == [64, 256, 1024, 4096]
    assert shape(pamap2) == {64: "same", 256: "lower", 1024: "lower", 4096: "lower"}
    assert shape(published_curve("celeba-identity")) == {64: "same", 256: "same", 1024: "same", 4096: "same"}
    assert published_curve("no-such-paradigm") == {}


def test_study_cases_are_data_driven() -> None:
    assert [c.name for c in study_cases(GPU)] == ["pamap2-baseline", "celeba-identity-128px", "celeba-identity-native"]
    assert all(c.data.get("weights", "none") == "none" for c in study_cases(GPU))  # no download on the node


def test_report_lines_and_banner() -> None:
    with pytest.raises(ValueError, match="not one of"):
        Verdict("x", "OK", "text")
    r = StepResult("idle", "Idle power", figures={"idle_power_w": 61.234567, "missing": None})
    r.verdict("idle.power", "INFO", "61.2 W")
    r.verdict("steady.instant.100hz", "PASS", "+0.4 %", "within +-2 %")
    text = render({"gpu_name": "NVIDIA H100", "date": "2030-01-01", "fake": True}, [r], "complete")
    assert text.startswith("# GPU validation: NVIDIA H100 (2030-01-01)") and FAKE_BANNER in text
    assert "- **PASS** `steady.instant.100hz`: +0.4 % (target: within +-2 %)" in text
    assert "| `idle_power_w` | 61.23 |" in text and "| `missing` | n/a |" in text
    assert FAKE_BANNER not in render({"fake": False}, [r], "complete")


def test_layout_names_and_fresh_folders(tmp_path: Path) -> None:
    assert slug("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"
    a = ValidationPaths.new(tmp_path, "NVIDIA H200", "2030-01-01")
    assert a.dir.name == "nvidia-h200-2030-01-01"
    a.dir.mkdir()
    assert ValidationPaths.new(tmp_path, "NVIDIA H200", "2030-01-01").dir.name == "nvidia-h200-2030-01-01-2"
    assert a.table("idle", "series").name == "idle-series.parquet" and a.report.name == "validation.md"
    assert is_under(a.dir, tmp_path) and not is_under(tmp_path, a.dir)


def _ctx(tmp_path: Path) -> Context:
    paths = ValidationPaths(tmp_path / "v")
    paths.dir.mkdir(parents=True, exist_ok=True)
    return Context(FAKE, paths, True, tmp_path, io.StringIO(), deadline_mono=time.monotonic() + 10)


def test_the_probe_reads_every_quantity_of_the_simulated_gpu(tmp_path: Path) -> None:
    with patched_nvml(gpu=SimulatedGpu(counter_period_s=0.01)):
        ctx = _ctx(tmp_path)
        res = StepResult("nvml", "NVML")
        run_nvml(ctx, res)
        assert {v.check: v.status for v in res.verdicts} == {
            **{f"nvml.{q.name}": "PASS" for q in QUANTITIES}, "nvml.meter": "PASS"}
        p = ctx.shared["probe"]
        with Recorder(p.handle, 200.0) as rec:
            time.sleep(0.1)
        assert len(rec.rows["time_s"]) >= 5 and all(v is not None for v in rec.rows["instant_power_w"])
        shutdown()


def test_hidden_quantities_fail_their_checks_and_skip_what_needs_them(tmp_path: Path) -> None:
    assert "energy" in HIDEABLE
    with patched_nvml(hidden=("energy", "instant_power", "temperature")):
        ctx = _ctx(tmp_path)
        res = StepResult("nvml", "NVML")
        run_nvml(ctx, res)
        status = {v.check: (v.status, v.text) for v in res.verdicts}
        assert status["nvml.energy_counter"][0] == "FAIL" and "not supported here" in status["nvml.energy_counter"][1]
        assert status["nvml.instant_power"][0] == "FAIL" and status["nvml.temperature"][0] == "FAIL"
        assert status["nvml.average_power"][0] == "PASS"
        assert status["nvml.meter"][0] == "PASS" and "energy_j <- None" in status["nvml.meter"][1]
        period = StepResult("counter-period", "Counter")
        ctx.deadline_mono = time.monotonic() + 5
        run_counter_period(ctx, period)
        assert {v.check: v.status for v in period.verdicts} == {"counter-period.energy": "SKIP",
                                                               "counter-period.instant_power": "SKIP"}
        with pytest.raises(SkipStep, match="no working energy counter"):
            run_steady(ctx, StepResult("steady", "Steady"))
        shutdown()


def test_without_nvml_the_probe_fails_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import pynvml as real

    from energybench.errors import MeterError

    with patched_nvml() as _:
        from energybench.meter import nvml

        nvml.pynvml.nvmlInit.side_effect = real.NVMLError(real.NVML_ERROR_LIBRARY_NOT_FOUND)
        with pytest.raises(MeterError, match="NVML init"):
            probe()


def test_the_data_child_writes_both_datasets_and_warms_every_size(tmp_path: Path) -> None:
    import dataclasses

    from energybench.validate.studydata import generate
    from energybench.worker.data import SYNTHETIC_MARKER

    profile = dataclasses.replace(FAKE, pamap2_seconds_per_activity=3.0, celeba_image_sizes_px=(32, "native"))
    got = generate(tmp_path, profile)
    assert set(got) == {"pamap2", "celeba"}
    assert all((Path(p) / SYNTHETIC_MARKER).exists() for p in got.values())
    assert [c.name for c in study_cases(profile)] == ["pamap2-baseline", "celeba-identity-32px",
                                                      "celeba-identity-native"]
