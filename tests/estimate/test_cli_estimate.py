"""``energybench estimate fit / predict / evaluate`` end to end on a synthetic grid, and their errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def eb(*args: str) -> subprocess.CompletedProcess[str]:
    code = "from energybench.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=600)


def test_help_imports_neither_sklearn_nor_stumpy() -> None:
    code = ("import sys; from energybench.cli import cli\n"
            "try:\n    cli(['estimate', '--help'], standalone_mode=False)\nexcept SystemExit: pass\n"
            "print([m for m in ('sklearn', 'stumpy', 'torch', 'scipy') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("[]"), out.stdout


def test_fit_predict_evaluate(synthetic, tmp_path: Path) -> None:
    config, layout = synthetic
    r = eb("estimate", "fit", str(layout.root))
    assert r.returncode == 0, r.stderr
    model = layout.estimator_model
    assert model.is_file() and "kernel-ridge: 16 runs" in r.stdout

    r = eb("estimate", "predict", str(config), "--model", str(model), "--csv", str(tmp_path / "p.csv"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("pamap2-baseline") == 8 and "total: 16 runs" in r.stdout
    assert (tmp_path / "p.csv").is_file()

    r = eb("estimate", "evaluate", str(layout.root), "--stable-epoch", "fluss", "--regressor", "kernel-ridge")
    assert r.returncode == 0, r.stderr
    assert "online epoch-energy-based" in r.stdout and "MAPE <= 5 % met" in r.stdout
    assert (layout.tables_dir / "estimate_evaluation.csv").is_file()
    assert (layout.figures_dir / "estimate_predicted_vs_actual.png").is_file()
    assert "| MLCO2 |" in layout.estimate_report.read_text()


def test_user_mistakes_are_one_line(synthetic, tmp_path: Path) -> None:
    config, layout = synthetic
    for args, needle in (
        (("estimate", "fit", str(tmp_path)), "no dataset here"),
        (("estimate", "predict", str(config), "--model", str(tmp_path / "none.joblib")), "no such model file"),
        (("estimate", "evaluate", str(layout.root), "--stable-epoch", "soon"), "--stable-epoch"),
    ):
        r = eb(*args)
        assert r.returncode == 1 and needle in r.stderr, r.stderr
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
