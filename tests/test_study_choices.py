"""Closer to the study: Table 1 numbering whatever the order, config choices, the published claims checked,
the open choices generated, and the paper grid predicted without its data."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from energybench.choices import collect_choices
from energybench.claims import FAILS, HOLDS, NOT_MEASURED, check_claims, load_claims, measured_values
from energybench.config import load_config, parse_config
from energybench.errors import ConfigError
from energybench.plan import plan
from energybench.reference import REFERENCE_DIR, load_reference

REPO = Path(__file__).resolve().parents[1]


def _cfg(batch_sizes: list[int], rates: list[float], **extra: object) -> dict:
    return {"name": "x", "grid": {"batch_sizes": batch_sizes, "learning_rates": rates},
            "paradigms": ["pamap2-baseline"], "hardware": ["cpu"],
            "data": {"pamap2": {"path": "p"}, **extra.pop("data", {})}, **extra}


def test_setups_follow_table_1_whatever_the_list_order(tmp_path: Path) -> None:
    table1 = plan(parse_config(_cfg([64, 256, 1024, 4096], [0.1, 0.01, 0.001, 0.0001]), tmp_path / "a.yaml"))
    shuffled = plan(parse_config(_cfg([1024, 64, 4096, 256], [0.001, 0.1, 0.0001, 0.01]), tmp_path / "a.yaml"))
    key = lambda s: (s.setup, s.batch_size, s.learning_rate, s.run_id)  # noqa: E731
    assert [key(s) for s in shuffled] == [key(s) for s in table1]
    assert [(s.setup, s.batch_size, s.learning_rate) for s in table1[:5]] == [
        (1, 64, 0.1), (2, 64, 0.01), (3, 64, 0.001), (4, 64, 0.0001), (5, 256, 0.1)]


def test_default_loader_keeps_run_ids_and_a_set_one_changes_them(tmp_path: Path) -> None:
    base = plan(parse_config(_cfg([64], [0.1]), tmp_path / "a.yaml"))
    same = plan(parse_config(_cfg([64], [0.1], data={"loader": "resident"}), tmp_path / "a.yaml"))
    other = plan(parse_config(_cfg([64], [0.1], data={"loader": "dataloader"}), tmp_path / "a.yaml"))
    assert base[0].run_id == same[0].run_id != other[0].run_id
    assert other[0].loader == "dataloader" and other[0].to_dict()["loader"] == "dataloader"


def test_paper_config_uses_native_images_the_dataloader_and_the_study_period() -> None:
    exp = load_config(REPO / "configs" / "paper.yaml")
    assert exp.data.celeba.image_size_px == "native" and exp.data.celeba.image_hw() is None
    assert exp.data.loader == "dataloader" and exp.meter.period_s == 1.0
    assert len(plan(exp)) == 672


def test_config_refuses_a_bad_image_size_and_mps_with_nvml(tmp_path: Path) -> None:
    cfg = _cfg([64], [0.1], data={"celeba": {"path": "c", "image_size_px": "big"}})
    cfg["paradigms"] = ["celeba-identity"]
    with pytest.raises(ConfigError, match=r"data.celeba.image_size_px: 'big': use 'native'"):
        parse_config(cfg, tmp_path / "a.yaml")
    with pytest.raises(ConfigError, match="cannot meter training.device 'mps'"):
        parse_config(_cfg([64], [0.1], training={"device": "mps"}, meter={"kind": "nvml"}), tmp_path / "a.yaml")
    exp = parse_config(_cfg([64], [0.1], training={"device": "mps"}), tmp_path / "a.yaml")
    assert exp.training.device == "mps"


# --- claims ----------------------------------------------------------------------------------

def test_every_claim_of_the_issue_is_transcribed() -> None:
    claims = load_claims()
    quotes = " ".join(claims["quote"])
    for text in ("two to three", "30 to 40", "seven to 13", "9 cycles on the CUDA setup", "12 cycles on MPS",
                 "5 times", "less than 20%", "around 40%", "up to 43", "61.5 %", "46.1%", "23% to 45%"):
        assert text in quotes, text
    assert {"journal-multitask-epochs"} <= set(claims["id"])
    assert claims["id"].n_unique() == claims.height


def _tables() -> dict[str, pl.DataFrame]:
    total = pl.DataFrame({
        "dataset": ["pamap2"] * 4, "paradigm": ["pamap2-baseline"] * 4, "hardware": ["cpu"] * 4,
        "setup": [1, 2, 3, 4], "batch_size": [64, 64, 256, 256], "learning_rate": [0.01, 0.001] * 2,
        "energy_mean_wh": [1.0, 2.0, 4.0, 10.0], "energy_of_worst_pct": [10.0, 20.0, 40.0, 100.0],
    })
    break_even = pl.DataFrame({"hardware": ["cpu"] * 3, "kind": ["best", "average", "worst"],
                               "cycles": [2.5, 20.0, 35.0], "pays_off": [True] * 3})
    multitask = pl.DataFrame({"hardware": ["gpu-rtx6000ada"] * 3, "type": ["attribute", "identity", "both"],
                              "epochs_mean": [300.0, 150.0, 80.0], "multitask_savings_frac": [0.41] * 3})
    return {"total_energy": total, "break_even": break_even, "multitask": multitask}


def test_claims_are_checked_against_the_measured_values() -> None:
    ref = load_reference()
    checked = check_claims(load_claims(), _tables(), ref.published_hardware())
    row = lambda claim: checked.filter(pl.col("claim") == claim).row(0, named=True)  # noqa: E731
    assert row("journal-best-below-20pct")["verdict"] == HOLDS and row("journal-best-below-20pct")["measured"] == "10 %"
    assert row("journal-5x")["verdict"] == FAILS  # 10x, not about 5x
    assert row("journal-break-even-best")["verdict"] == HOLDS
    assert row("journal-break-even-average")["verdict"] == FAILS
    assert row("journal-break-even-worst")["verdict"] == HOLDS and row("journal-break-even-worst")["hardware"] == "cpu"
    assert row("journal-break-even-worst-5c")["verdict"] == NOT_MEASURED  # RTX 3090 only: cpu does not pair
    assert row("journal-multitask-epochs")["verdict"] == HOLDS
    assert row("journal-local-multitask-40pct")["verdict"] == HOLDS  # gpu-rtx6000ada pairs with rtx6000ada
    assert row("journal-freeze-savings")["verdict"] == NOT_MEASURED and row("journal-freeze-savings")["measured"] is None
    assert set(checked["verdict"]) == {HOLDS, FAILS, NOT_MEASURED}
    assert checked.filter(pl.col("tolerance").is_null()).height == 0


def test_claims_with_no_tables_are_all_not_measured() -> None:
    checked = check_claims(load_claims(), {}, load_reference().published_hardware())
    assert (checked["verdict"] == NOT_MEASURED).all() and checked.height == load_claims().height
    assert all(not v for v in measured_values({}).values())


# --- choices and the catalogue ---------------------------------------------------------------

def test_choices_come_from_the_specs_and_records() -> None:
    specs = [s.to_dict() for s in plan(load_config(REPO / "configs" / "paper.yaml"))]
    records = [{"run_id": specs[0]["run_id"], "meter": "nvml", "loader_workers": 7}]
    by_name = {c.choice: c for c in collect_choices(specs, records)}
    assert set(by_name) >= {"PAMAP2 channels", "PAMAP2 windows", "PAMAP2 split", "CelebA split", "CelebA image size",
                            "Optimiser", "Multitask weight alpha", "Multitask monitor", "Input pipeline",
                            "Sampling period", "Meter"}
    assert by_name["CelebA image size"].used.startswith("native")
    assert by_name["Input pipeline"].used.startswith("dataloader") and "7 workers" in by_name["Input pipeline"].used
    assert by_name["Sampling period"].used == "1 s" and by_name["Meter"].used == "nvml"
    assert by_name["PAMAP2 windows"].used == "256 samples, hop 128 (100 Hz)"
    assert by_name["Multitask weight alpha"].used.startswith("0.5")


def test_the_paper_grid_is_predicted_without_its_data() -> None:
    from energybench.estimate import workload

    specs = [s.to_dict() for s in plan(load_config(REPO / "configs" / "paper.yaml"))]
    assert not any(Path(s["data"]["path"]).exists() for s in specs)
    frame = workload.planned_frame(specs, {}, {})
    assert frame.height == 672 and frame["workload_source"].str.starts_with("published catalogue").all()
    celeba = frame.filter(pl.col("paradigm") == "celeba-identity").row(0, named=True)
    assert celeba["input_size"] == 3 * 218 * 178 and celeba["params_total"] > 11_000_000
    pamap2 = frame.filter(pl.col("paradigm") == "pamap2-baseline").row(0, named=True)
    assert pamap2["params_total"] == 141_293 and pamap2["input_size"] == 28 * 256


def test_published_catalogue_macs_match_the_models() -> None:
    import torch

    from energybench.estimate.workload import published_catalogue
    from energybench.worker import models

    entries = {e["paradigm"]: e for e in published_catalogue().values()}
    c = models.model_characteristics(models.Pamap2Classifier(28, 12), torch.zeros(1, 28, 256))
    assert entries["pamap2-baseline"]["macs_per_sample"] == c["macs_per_sample"]
    assert REFERENCE_DIR.is_dir()
