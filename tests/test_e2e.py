"""The demo config end to end through the CLI: submit -> status -> collect -> tables -> figures."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from energybench.config import load_config
from energybench.plan import plan

from .test_report_browser import assert_reads_well
from .conftest import REPO, eb

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def demo_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped demo config with its data generated under a temporary directory."""
    tmp = tmp_path_factory.mktemp("e2e")
    cfg = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text())
    cfg["data"]["pamap2"]["path"] = str(tmp / "data" / "pamap2")
    cfg["data"]["celeba"]["path"] = str(tmp / "data" / "celeba")
    path = tmp / "demo.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.mark.slow
def test_demo_end_to_end_local(demo_config: Path) -> None:
    results = demo_config.parent / "results"
    exp = load_config(demo_config)
    specs = plan(exp)
    # The meter `auto` opens for a CPU run on this machine: RAPL where readable, else the estimate.
    from energybench.meter import open_meter

    probe = open_meter(exp.meter.kind, device="cpu", log=lambda _: None)
    expected_meter = probe.kind
    probe.close()
    assert expected_meter in ("rapl", "estimate")

    r = eb("submit", str(demo_config), "--results", str(results), timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{len(specs)}/{len(specs)} runs completed" in r.stdout

    r = eb("status", str(results), "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count('"COMPLETED"') == len(specs)

    r = eb("collect", str(results))
    assert r.returncode == 0, r.stdout + r.stderr
    runs = pq.read_table(results / "dataset" / "runs.parquet").to_pylist()
    assert sorted(x["run_id"] for x in runs) == sorted(s.run_id for s in specs)
    for x in runs:
        assert x["status"] == "COMPLETED"
        assert x["epochs"] > 0 and x["energy_j"] > 0 and x["duration_s"] > 0
        assert x["meter"] == expected_meter
        assert x["data_synthetic"] is True
        assert x["params_total"] > 0 and x["macs_per_sample"] > 0
    epochs = pq.read_table(results / "dataset" / "epochs.parquet").to_pylist()
    assert sum(x["epochs"] for x in runs) == len(epochs)
    assert all(e["samples"] >= 2 and e["energy_j"] > 0 and e["energy_eq1_j"] > 0 for e in epochs)
    samples = pq.ParquetDataset(results / "dataset" / "samples").read()
    assert samples.num_rows > 0
    assert set(samples.column("meter").to_pylist()) == {expected_meter}

    r = eb("tables", str(results / "dataset"), "--out", str(results / "tables2"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert {p.name for p in (results / "tables2").iterdir()} == {p.name for p in (results / "tables").iterdir()}

    r = eb("figures", str(results))
    assert r.returncode == 0, r.stdout + r.stderr
    # Fig. 3 per dataset x hardware, Fig. 4, Fig. 5, Table 3, and the power trace of the first run shown.
    first = min((s for s in specs if s.paradigm == "celeba-identity"), key=lambda s: (s.setup, s.repeat))
    expected = {"energy_per_epoch_celeba_cpu", "energy_per_epoch_pamap2_cpu", "total_energy", "break_even",
                "multitask", f"power_{first.run_id}", "relative_energy_celeba_cpu", "relative_energy_pamap2_cpu"}
    pngs = sorted((results / "figures").glob("*.png"))
    assert {p.stem for p in pngs} == expected
    for p in pngs:
        assert p.read_bytes()[:8] == PNG, p
        assert p.with_suffix(".pdf").is_file(), p

    # the real demo's report, opened in headless Chromium as a reader would (findings on the first screen)
    r = eb("report", str(results))
    assert r.returncode == 0, r.stdout + r.stderr
    html = (results / "report.html").read_text()
    assert "Measurement boundary" in html and "Findings" in html
    assert_reads_well(results / "report.html", results / "report-first-screen.png")

    # submitting again runs nothing: every run is complete
    r = eb("submit", str(demo_config), "--results", str(results), timeout=900)
    assert r.returncode == 0 and "0 to run" in r.stdout
