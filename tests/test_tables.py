"""Tables on tiny hand-built datasets whose answers are worked out by hand here."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from energybench import tables as T
from energybench.errors import ResultsError
from energybench.workloads.registry import builtins as workloads
from energybench.paths import DatasetPaths, table_paths
from energybench.schema import EPOCH_SCHEMA, RUN_SCHEMA

RUNS_SCHEMA = pl.from_arrow(RUN_SCHEMA.empty_table()).schema
EPOCHS_SCHEMA = pl.from_arrow(EPOCH_SCHEMA.empty_table()).schema
BATCH_SIZES = (64, 256, 1024, 4096)
LEARNING_RATES = (0.1, 0.01, 0.001, 0.0001)


class Dataset:
    """Builds ``runs`` and ``epochs`` frames with the schema's columns, one run at a time."""

    def __init__(self) -> None:
        self.runs: list[dict] = []
        self.epochs: list[dict] = []

    def run(self, paradigm: str, hardware: str = "h100", setup: int = 1, repeat: int = 1, *,
            energy_j: float | None = None, epoch_j: list[float | None] | None = None,
            net_energy_j: float | None = None, epoch_net_j: list[float | None] | None = None,
            epoch_eq1_j: list[float | None] | None = None, status: str = "COMPLETED",
            threshold_epoch: int | None = None, accuracy: float | None = 0.9,
            domains_j: dict[str, float] | None = None) -> str:
        """Add one run (setup numbering as the paper's Table 1); its energy defaults to the sum of its epochs."""
        epoch_j = epoch_j if epoch_j is not None else [1.0]
        run_id = f"{paradigm}-{hardware}-s{setup}-r{repeat}-{status.lower()}"
        if energy_j is None:
            energy_j = sum(e for e in epoch_j if e is not None)
        self.runs.append({
            "run_id": run_id, "experiment": "hand", "dataset": workloads()[paradigm].dataset, "paradigm": paradigm,
            "setup": setup, "batch_size": BATCH_SIZES[(setup - 1) // 4],
            "learning_rate": LEARNING_RATES[(setup - 1) % 4],
            "repeat": repeat, "hardware": hardware, "meter": "synthetic", "status": status, "epochs": len(epoch_j),
            "threshold_epoch": threshold_epoch, "stop_reason": "patience", "best_val_accuracy": accuracy,
            "duration_s": 10.0 * len(epoch_j), "energy_j": energy_j,
            "idle_power_w": None if net_energy_j is None else 1.0, "net_energy_j": net_energy_j,
            "attempts": 1, "device": "cpu", "host": "node1", "data_synthetic": True,
            **{f"{d}_energy_j": e for d, e in (domains_j or {}).items()},
            "energy_domains": "+".join(domains_j) if domains_j else None,
        })
        for i, e in enumerate(epoch_j, start=1):
            self.epochs.append({
                "run_id": run_id, "attempt": 1, "epoch": i, "start_s": 1000.0 + 10 * i, "duration_s": 10.0,
                "energy_j": e, "energy_eq1_j": epoch_eq1_j[i - 1] if epoch_eq1_j else e,
                "mean_power_w": None if e is None else e / 10, "samples": 10, "coverage_frac": 1.0,
                "low_samples": False, "net_energy_j": epoch_net_j[i - 1] if epoch_net_j else None,
                "val_accuracy": accuracy,
            })
        return run_id

    def frames(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        return (pl.DataFrame(self.runs, schema=RUNS_SCHEMA, strict=False),
                pl.DataFrame(self.epochs, schema=EPOCHS_SCHEMA, strict=False))

    def table(self, name: str) -> pl.DataFrame:
        return T.TABLES[name](*self.frames())


def one(df: pl.DataFrame, **where: object) -> dict:
    """The single row of ``df`` matching ``where``."""
    rows = df.filter(*(pl.col(k).is_null() if v is None else pl.col(k) == v for k, v in where.items())).to_dicts()
    assert len(rows) == 1, (where, rows)
    return rows[0]


WH = 3600.0
MWH = 3.6


def test_total_energy_splits_into_the_metered_domains() -> None:
    d = Dataset()
    d.run("pamap2-baseline", repeat=1, epoch_j=[3 * WH], domains_j={"gpu": 2 * WH, "cpu": 0.75 * WH, "dram": 0.25 * WH})
    d.run("pamap2-baseline", repeat=2, epoch_j=[5 * WH], domains_j={"gpu": 4 * WH, "cpu": 0.75 * WH, "dram": 0.25 * WH})
    d.run("pamap2-baseline", hardware="a100", epoch_j=[1 * WH])  # one domain-less (schema 1) run
    table = d.table("total_energy")
    h100 = one(table, hardware="h100")
    assert h100["energy_mean_wh"] == pytest.approx(4.0)
    assert (h100["gpu_energy_mean_wh"], h100["cpu_energy_mean_wh"], h100["dram_energy_mean_wh"]) == \
        pytest.approx((3.0, 0.75, 0.25))
    assert h100["gpu_energy_mean_wh"] + h100["cpu_energy_mean_wh"] + h100["dram_energy_mean_wh"] == \
        pytest.approx(h100["energy_mean_wh"])
    assert h100["energy_domains"] == "gpu+cpu+dram"
    a100 = one(table, hardware="a100")
    assert a100["gpu_energy_mean_wh"] is None and a100["energy_domains"] is None


def test_energy_per_epoch_averages_run_means_over_repeats() -> None:
    d = Dataset()
    # repeat 1: epochs of 1 and 2 mWh -> 1.5 mWh; repeat 2: one epoch of 3 mWh; eq. 1 reads twice as much.
    d.run("pamap2-baseline", repeat=1, epoch_j=[1 * MWH, 2 * MWH], epoch_eq1_j=[2 * MWH, 4 * MWH],
          epoch_net_j=[0.5 * MWH, 1.5 * MWH], net_energy_j=2 * MWH)
    d.run("pamap2-baseline", repeat=2, epoch_j=[3 * MWH], epoch_eq1_j=[6 * MWH])
    d.run("pamap2-baseline", repeat=3, epoch_j=[1000 * MWH], status="FAILED")
    d.run("pamap2-baseline", hardware="a100", setup=16, epoch_j=[4 * MWH])
    table = d.table("energy_per_epoch")
    assert table.height == 2
    h100 = one(table, hardware="h100", setup=1)
    assert h100["batch_size"] == 64 and h100["learning_rate"] == 0.1
    assert h100["epoch_energy_mean_mwh"] == pytest.approx(2.25)
    assert h100["epoch_energy_std_mwh"] == pytest.approx(math.sqrt(0.75**2 * 2))
    assert h100["epoch_energy_eq1_mean_mwh"] == pytest.approx(4.5)
    assert h100["net_epoch_energy_mean_mwh"] == pytest.approx(1.0)  # only repeat 1 has a net figure
    assert (h100["n_runs"], h100["n_epochs"], h100["n_low_sample_epochs"]) == (2, 3, 0)
    a100 = one(table, hardware="a100")
    assert (a100["batch_size"], a100["learning_rate"]) == (4096, 0.0001)
    assert a100["epoch_energy_mean_mwh"] == pytest.approx(4.0)
    assert a100["epoch_energy_std_mwh"] is None and a100["net_epoch_energy_mean_mwh"] is None


def test_total_energy_normalises_to_the_worst_setup_per_hardware() -> None:
    d = Dataset()
    d.run("celeba-identity", setup=1, repeat=1, energy_j=1 * WH)
    d.run("celeba-identity", setup=1, repeat=2, energy_j=3 * WH)
    d.run("celeba-identity", setup=2, repeat=1, energy_j=4 * WH, net_energy_j=2 * WH)
    d.run("celeba-identity", setup=3, repeat=1, energy_j=99 * WH, status="FAILED")
    d.run("celeba-identity", hardware="a100", setup=1, energy_j=10 * WH)
    table = d.table("total_energy")
    s1, s2 = one(table, hardware="h100", setup=1), one(table, hardware="h100", setup=2)
    assert s1["energy_mean_wh"] == pytest.approx(2.0)
    assert s1["energy_std_wh"] == pytest.approx(math.sqrt(2.0))
    assert s1["energy_of_worst_pct"] == pytest.approx(50.0)
    assert s2["energy_of_worst_pct"] == pytest.approx(100.0)
    assert s2["net_energy_mean_wh"] == pytest.approx(2.0) and s2["net_energy_of_worst_pct"] == pytest.approx(100.0)
    assert s1["net_energy_mean_wh"] is None
    assert (s1["n_runs"], s1["epochs_mean"], s1["best_val_accuracy_mean_frac"]) == (2, 1.0, 0.9)
    assert one(table, hardware="a100")["energy_of_worst_pct"] == pytest.approx(100.0)
    assert table.select("hardware", "setup").rows() == [("a100", 1), ("h100", 1), ("h100", 2)]


def test_break_even_cycles_never_case_and_summaries() -> None:
    d = Dataset()
    # setup 1: x = 2 / (3 - 1) = 1 (E_enc averaged over two repeats: 1 and 3 Wh)
    d.run("pamap2-autoencoder", setup=1, repeat=1, energy_j=1 * WH, net_energy_j=0.5 * WH)
    d.run("pamap2-autoencoder", setup=1, repeat=2, energy_j=3 * WH, net_energy_j=1.5 * WH)
    d.run("pamap2-frozen", setup=1, energy_j=1 * WH, net_energy_j=0.5 * WH)
    d.run("pamap2-baseline", setup=1, energy_j=3 * WH, net_energy_j=2 * WH)
    # setup 2: x = 4 / (2 - 1) = 4
    d.run("pamap2-autoencoder", setup=2, energy_j=4 * WH)
    d.run("pamap2-frozen", setup=2, energy_j=1 * WH)
    d.run("pamap2-baseline", setup=2, energy_j=2 * WH)
    # setup 3: the classifier alone costs as much as training from scratch: never pays off
    d.run("pamap2-autoencoder", setup=3, energy_j=1 * WH)
    d.run("pamap2-frozen", setup=3, energy_j=2 * WH)
    d.run("pamap2-baseline", setup=3, energy_j=2 * WH)
    # setup 4 lacks the autoencoder; a100 has one setup (5: x = 1 / (4 - 2) = 0.5)
    d.run("pamap2-baseline", setup=4, energy_j=2 * WH)
    d.run("pamap2-autoencoder", hardware="a100", setup=5, energy_j=1 * WH)
    d.run("pamap2-frozen", hardware="a100", setup=5, energy_j=2 * WH)
    d.run("pamap2-baseline", hardware="a100", setup=5, energy_j=4 * WH)
    table = d.table("break_even")
    assert table.select("hardware", "kind", "setup").rows() == [
        ("a100", "setup", 5), ("a100", "best", 5), ("a100", "worst", 5), ("a100", "average", None),
        ("h100", "setup", 1), ("h100", "setup", 2), ("h100", "setup", 3),
        ("h100", "best", 1), ("h100", "worst", 3), ("h100", "average", None),
    ]
    s1 = one(table, hardware="h100", kind="setup", setup=1)
    assert (s1["enc_energy_wh"], s1["class_energy_wh"], s1["enc_class_energy_wh"]) == pytest.approx((2, 1, 3))
    assert s1["cycles"] == pytest.approx(1.0) and s1["pays_off"] and s1["note"] is None
    assert s1["net_cycles"] == pytest.approx(1.0 / 1.5) and s1["net_pays_off"]
    assert one(table, hardware="h100", kind="setup", setup=2)["cycles"] == pytest.approx(4.0)
    never = one(table, hardware="h100", kind="setup", setup=3)
    assert never["cycles"] is None and never["pays_off"] is False and never["note"] == T.NEVER_NOTE
    assert never["net_cycles"] is None and never["net_pays_off"] is None
    assert one(table, hardware="h100", kind="best")["cycles"] == pytest.approx(1.0)
    assert one(table, hardware="h100", kind="worst")["note"] == T.NEVER_NOTE
    average = one(table, hardware="h100", kind="average")
    # means over the 3 setups: E_enc 7/3, E_class 4/3, E_enc+class 7/3 -> x = (7/3) / 1
    assert average["enc_energy_wh"] == pytest.approx(7 / 3) and average["class_energy_wh"] == pytest.approx(4 / 3)
    assert average["cycles"] == pytest.approx(7 / 3) and average["n_setups"] == 3
    assert one(table, hardware="a100", kind="average")["cycles"] == pytest.approx(0.5)
    assert table.filter(pl.col("cycles") < 0).height == 0


def test_break_even_worst_pays_off_when_every_setup_does() -> None:
    d = Dataset()
    for setup, enc in ((1, 1.0), (2, 6.0)):  # x = enc / (3 - 1)
        d.run("pamap2-autoencoder", setup=setup, energy_j=enc * WH)
        d.run("pamap2-frozen", setup=setup, energy_j=1 * WH)
        d.run("pamap2-baseline", setup=setup, energy_j=3 * WH)
    table = d.table("break_even")
    assert one(table, kind="best")["setup"] == 1 and one(table, kind="best")["cycles"] == pytest.approx(0.5)
    assert one(table, kind="worst")["setup"] == 2 and one(table, kind="worst")["cycles"] == pytest.approx(3.0)
    assert one(table, kind="average")["cycles"] == pytest.approx(3.5 / 2)


def test_break_even_is_empty_without_the_paradigms() -> None:
    d = Dataset()
    d.run("pamap2-baseline")
    d.run("pamap2-frozen")
    table = d.table("break_even")
    assert table.height == 0 and table.columns == list(T.BREAK_EVEN)


def test_freeze_savings_over_paired_setups() -> None:
    d = Dataset()
    d.run("pamap2-unfrozen", setup=1, energy_j=4 * WH)
    d.run("pamap2-unfrozen", setup=2, repeat=1, energy_j=5 * WH)
    d.run("pamap2-unfrozen", setup=2, repeat=2, energy_j=7 * WH)
    d.run("pamap2-unfrozen", setup=3, energy_j=100 * WH)  # no frozen partner: left out
    d.run("pamap2-frozen", setup=1, energy_j=2 * WH)
    d.run("pamap2-frozen", setup=2, energy_j=3 * WH)
    d.run("pamap2-frozen", hardware="a100", setup=1, energy_j=3 * WH)  # no unfrozen at all on a100
    table = d.table("freeze_savings")
    row = one(table, hardware="h100")
    assert table.height == 1
    assert row["unfrozen_energy_mean_wh"] == pytest.approx(5.0)  # setups 4 and (5+7)/2
    assert row["unfrozen_energy_std_wh"] == pytest.approx(math.sqrt(2.0))
    assert row["frozen_energy_mean_wh"] == pytest.approx(2.5)
    assert row["savings_frac"] == pytest.approx(0.5)
    assert row["net_savings_frac"] is None
    assert (row["n_setups"], row["n_runs_unfrozen"], row["n_runs_frozen"]) == (2, 3, 2)


def test_multitask_per_type_and_single_vs_multitask_totals() -> None:
    d = Dataset()
    d.run("celeba-attributes", epoch_j=[10 * MWH, 10 * MWH])  # 10 mWh/epoch, 2 epochs, 20 mWh
    d.run("celeba-identity", epoch_j=[20 * MWH])  # 20 mWh/epoch, 1 epoch, 20 mWh
    d.run("celeba-identity", setup=2, epoch_j=[10 * MWH])  # no partners in setup 2
    d.run("celeba-multitask", epoch_j=[5 * MWH, 5 * MWH, 5 * MWH])  # 5 mWh/epoch, 3 epochs, 15 mWh
    d.run("celeba-multitask", hardware="a100", epoch_j=[5 * MWH])
    table = d.table("multitask")
    assert table.select("hardware", "type").rows() == [
        ("a100", "both"), ("h100", "attribute"), ("h100", "identity"), ("h100", "both")]
    attribute, identity, both = (one(table, hardware="h100", type=t) for t in ("attribute", "identity", "both"))
    assert (attribute["epoch_energy_mean_mwh"], attribute["epochs_mean"]) == pytest.approx((10.0, 2.0))
    assert (identity["epoch_energy_mean_mwh"], identity["epochs_mean"]) == pytest.approx((15.0, 1.0))
    assert identity["n_runs"] == 2
    assert identity["epoch_energy_std_mwh"] == pytest.approx(math.sqrt(50.0))
    assert both["paradigm"] == "celeba-multitask" and both["energy_mean_wh"] == pytest.approx(0.015)
    for row in (attribute, identity, both):  # the comparison is over setup 1 only
        assert row["single_tasks_energy_mean_wh"] == pytest.approx(0.040)
        assert row["multitask_energy_mean_wh"] == pytest.approx(0.015)
        assert row["multitask_savings_frac"] == pytest.approx(1 - 15 / 40)
        assert row["n_paired_setups"] == 1
    a100 = one(table, hardware="a100")
    assert a100["single_tasks_energy_mean_wh"] is None and a100["n_paired_setups"] is None


def test_energy_to_target_sums_epochs_up_to_the_threshold() -> None:
    d = Dataset()
    reached = d.run("celeba-identity", setup=1, epoch_j=[1 * WH, 2 * WH, 1 * WH], threshold_epoch=2,
                    net_energy_j=2 * WH, epoch_net_j=[0.5 * WH, 1 * WH, 0.5 * WH])
    never = d.run("celeba-identity", setup=2, epoch_j=[1 * WH, 1 * WH], threshold_epoch=None)
    gap = d.run("celeba-identity", setup=3, epoch_j=[1 * WH, None], threshold_epoch=2)
    d.run("celeba-identity", setup=4, epoch_j=[1 * WH], threshold_epoch=1, status="FAILED")
    table = d.table("energy_to_target")
    assert table["run_id"].to_list() == [reached, never, gap]
    row = one(table, run_id=reached)
    assert row["reached"] and row["energy_to_target_wh"] == pytest.approx(3.0)
    assert row["net_energy_to_target_wh"] == pytest.approx(1.5)
    assert row["energy_wh"] == pytest.approx(4.0) and row["energy_to_target_frac"] == pytest.approx(0.75)
    row = one(table, run_id=never)
    assert row["reached"] is False and row["energy_to_target_wh"] is None and row["energy_to_target_frac"] is None
    assert one(table, run_id=gap)["energy_to_target_wh"] is None  # an epoch without energy: unknown, not 1 Wh


@pytest.mark.parametrize("name", sorted(T.TABLES))
def test_empty_dataset_gives_empty_tables_with_the_right_columns(name: str) -> None:
    for runs, epochs in (Dataset().frames(), (pl.DataFrame(), pl.DataFrame())):
        table = T.compute_tables(runs, epochs)[name]
        assert table.height == 0
        assert table.columns == [c for c in T.compute_tables(*Dataset().frames())[name].columns]


def partial_grid() -> Dataset:
    """Some setups of some paradigms on two hardware targets, with a failed run and missing net energy."""
    d = Dataset()
    for i, paradigm in enumerate(sorted(workloads())):
        for hardware in ("h100", "cpu"):
            for setup in range(1, 17, 2 + i % 3):
                for repeat in (1, 2):
                    e = float(setup * (i + 1) * repeat)
                    d.run(paradigm, hardware, setup, repeat, epoch_j=[e, 2 * e, None if setup == 5 else e],
                          threshold_epoch=2 if setup % 3 else None, status="FAILED" if setup == 9 else "COMPLETED",
                          net_energy_j=e if hardware == "h100" else None)
    return d


@pytest.mark.parametrize("name", sorted(T.TABLES))
def test_tables_on_a_partial_grid_are_sorted_deterministic_and_unit_named(name: str) -> None:
    runs, epochs = partial_grid().frames()
    table = T.TABLES[name](runs, epochs)
    assert table.height > 0
    shuffled = T.TABLES[name](runs.sample(fraction=1.0, shuffle=True, seed=1),
                              epochs.sample(fraction=1.0, shuffle=True, seed=2))
    assert shuffled.equals(table)
    keys = {"run_id", "dataset", "paradigm", "hardware", "setup", "batch_size", "learning_rate", "repeat", "kind",
            "type", "params", "note", "reached", "pays_off", "net_pays_off", "threshold_epoch", "epochs", "cycles", "net_cycles",
            "epochs_mean", "epochs_std", "energy_domains"}
    units = ("_j", "_wh", "_mwh", "_s", "_pct", "_frac")
    unitless = [c for c in table.columns if c not in keys and not c.startswith("n_") and not c.endswith(units)]
    assert unitless == []


def test_compute_tables_gives_each_table_as_its_own_function_does() -> None:
    """compute_tables sorts the epochs once and shares each run's epoch means: the same tables, bit for bit."""
    runs, epochs = partial_grid().frames()
    runs, epochs = runs.sample(fraction=1.0, shuffle=True, seed=3), epochs.sample(fraction=1.0, shuffle=True, seed=4)
    computed = T.compute_tables(runs, epochs)
    assert sorted(computed) == sorted(T.TABLES)
    for name, table in T.TABLES.items():
        assert computed[name].equals(table(runs, epochs)), name


def test_write_tables_and_load_dataset_round_trip(tmp_path: Path) -> None:
    runs, epochs = partial_grid().frames()
    paths = DatasetPaths(tmp_path / "dataset")
    paths.dir.mkdir()
    runs.write_parquet(paths.runs)
    epochs.write_parquet(paths.epochs)
    runs2, epochs2 = T.load_dataset(paths.dir)
    assert runs2.equals(runs) and epochs2.equals(epochs)
    computed = T.compute_tables(runs2, epochs2)
    written = T.write_tables(computed, tmp_path / "tables")
    assert sorted(p.name for p in (tmp_path / "tables").iterdir()) == sorted(p.name for p in written)
    for name, table in computed.items():
        csv_path, parquet_path = table_paths(tmp_path / "tables", name)
        assert pl.read_parquet(parquet_path).equals(table)
        assert pl.read_csv(csv_path).columns == table.columns
    first = [p.read_bytes() for p in written]
    assert [p.read_bytes() for p in T.write_tables(computed, tmp_path / "tables")] == first


def test_load_dataset_names_the_directory_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match=r"no dataset here; run `energybench collect DIR` first"):
        T.load_dataset(tmp_path)
    paths = DatasetPaths(tmp_path)
    paths.runs.write_text("not parquet")
    paths.epochs.write_text("not parquet")
    with pytest.raises(ResultsError, match="runs.parquet"):
        T.load_dataset(tmp_path)


def _many_epochs(run_ids: list[str], n: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(7)
    rows = len(run_ids) * n
    epochs = pl.DataFrame({
        "run_id": [r for r in run_ids for _ in range(n)], "attempt": [1] * rows,
        "epoch": [e for _ in run_ids for e in range(1, n + 1)],
        **{c: rng.uniform(0.1, 1e4, rows) for c in ("energy_j", "net_energy_j", "energy_eq1_j", "duration_s")},
        "low_samples": [False] * rows,
    })
    runs = pl.DataFrame({"run_id": run_ids, "threshold_epoch": [n // 2] * len(run_ids)})
    return runs, epochs


def test_a_runs_epoch_summary_is_the_same_bits_alone_or_among_others() -> None:
    """collect keeps the summary rows of unchanged runs and computes the changed runs' alone: each row must not
    depend on the other runs in the frame (polars' own sum and mean do: they add in blocks)."""
    ids = [f"r{i:03d}" for i in range(40)]
    runs, epochs = _many_epochs(ids, 500)
    together = T.epoch_summary(runs, epochs.sample(fraction=1.0, shuffle=True, seed=1))
    assert together["run_id"].to_list() == ids
    for rid in ("r000", "r017", "r039"):
        alone = T.epoch_summary(runs, epochs.filter(pl.col("run_id") == rid))
        assert alone.rows() == together.filter(pl.col("run_id") == rid).rows()
    assert together["energy_to_target_wh"].null_count() == 0 and set(together["n_epochs"]) == {500}
