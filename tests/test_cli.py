from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from .conftest import REPO, eb, minimal_config


def test_help_is_instant_and_does_not_import_torch() -> None:
    code = ("import sys, time; t=time.perf_counter(); from energybench.cli import cli\n"
            "try:\n    cli(['--help'], standalone_mode=False)\nexcept SystemExit: pass\n"
            "heavy=[m for m in ('torch','timm','matplotlib','polars','pyarrow') if m in sys.modules]\n"
            "print(heavy, time.perf_counter()-t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    heavy, seconds = out.stdout.strip().rsplit(" ", 1)
    assert heavy.endswith("[]"), heavy
    assert float(seconds) < 1.0
    t0 = time.perf_counter()
    r = eb("--help")
    assert r.returncode == 0 and "submit" in r.stdout and "collect" in r.stdout
    assert time.perf_counter() - t0 < 5


def test_plan_prints_counts_and_total() -> None:
    r = eb("plan", str(REPO / "configs" / "paper.yaml"))
    assert r.returncode == 0, r.stderr
    assert "total: 672 runs" in r.stdout
    assert "pamap2-frozen" in r.stdout and "h100" in r.stdout


def test_bad_config_is_one_line_and_nonzero(tmp_path: Path, write_config) -> None:
    path = write_config(minimal_config(tmp_path, repeats=-1))
    for cmd in ("plan", "submit"):
        r = eb(cmd, str(path), *(["--results", str(tmp_path / "res")] if cmd == "submit" else []))
        assert r.returncode == 2
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
        assert "repeats" in r.stderr and str(path) in r.stderr
    assert not (tmp_path / "res").exists()  # nothing written


def test_status_of_a_non_results_dir(tmp_path: Path) -> None:
    r = eb("status", str(tmp_path))
    assert r.returncode == 1 and "not an energybench results directory" in r.stderr
    assert "Traceback" not in r.stderr


def test_tables_without_dataset(tmp_path: Path) -> None:
    r = eb("tables", str(tmp_path))
    assert r.returncode == 1 and "no runs.parquet" in r.stderr


def test_unknown_executor_is_clicks_one_liner(tmp_path: Path, write_config) -> None:
    r = eb("submit", str(write_config(minimal_config(tmp_path))), "--executor", "pbs")
    assert r.returncode == 2 and "'pbs' is not one of" in r.stderr
