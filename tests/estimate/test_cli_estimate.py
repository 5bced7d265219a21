"""``energybench estimate fit / predict / evaluate`` end to end on a synthetic grid, and their errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ..conftest import eb


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

    r = eb("estimate", "evaluate", str(layout.root), "--stable-epoch", "fluss", "--regressor", "kernel-ridge",
           timeout=600)
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


def _run_dir(root: Path, n_epochs: int, done: bool) -> str:
    """A results directory with one run that trained ``n_epochs`` epochs of 36 J (0.01 Wh), accuracy rising."""
    import math

    import pyarrow as pa

    from energybench.config import parse_config
    from energybench.paths import ResultsLayout, write_json
    from energybench.plan import plan
    from energybench.schema import EPOCH_SCHEMA
    from energybench.shards import write_table

    cfg = {"name": "r", "grid": {"batch_sizes": [64], "learning_rates": [0.001]}, "paradigms": ["pamap2-baseline"],
           "hardware": ["h100"], "data": {"pamap2": {"path": str(root)}},
           "early_stopping": {"threshold": 0.8, "patience_epochs": 10, "max_epochs": 200}}
    spec = plan(parse_config(cfg, root / "r.yaml"))[0]
    run = ResultsLayout(root / "res").run(spec.run_id)
    write_json(run.spec, spec.to_dict())
    rows = [{"run_id": spec.run_id, "attempt": 1, "epoch": e, "start_s": 0.0, "duration_s": 2.0, "energy_j": 36.0,
             "energy_eq1_j": 36.0, "mean_power_w": 18.0, "samples": 3, "coverage_frac": 1.0, "low_samples": False,
             "net_energy_j": None, "train_loss": None, "val_loss": None,
             "val_accuracy": 0.9 - 0.6 * math.exp(-e / 10)} for e in range(1, n_epochs + 1)]
    write_table(run.epochs(1), pa.Table.from_pylist(rows, schema=EPOCH_SCHEMA), EPOCH_SCHEMA)
    if done:
        write_json(run.done, {"attempt": 1})
    return spec.run_id


def test_online_estimates_of_a_finished_and_a_running_run(tmp_path: Path) -> None:
    run_id = _run_dir(tmp_path / "a", 30, done=True)
    r = eb("estimate", "run", str(tmp_path / "a" / "res"), run_id[:6])
    assert r.returncode == 0, r.stderr
    assert "(finished): 30 epochs measured, 0.3 Wh so far" in r.stdout
    assert "epoch-energy-based 0.3 Wh" in r.stdout and "forecast" not in r.stdout.split("\n", 2)[2]

    run_id = _run_dir(tmp_path / "b", 15, done=False)
    r = eb("estimate", "run", str(tmp_path / "b" / "res"), run_id)
    assert r.returncode == 0, r.stderr
    assert "(training): 15 epochs measured" in r.stdout and "forecast (" in r.stdout and "stop at epoch" in r.stdout
