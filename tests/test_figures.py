"""Figures drawn from a partial grid written to disk as a real dataset directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from energybench import figures as F
from energybench.errors import ResultsError
from energybench.workloads.registry import builtins as workloads
from energybench.paths import DatasetPaths, figure_paths
from energybench.schema import EPOCH_SCHEMA, RUN_SCHEMA, SAMPLE_SCHEMA
from energybench.tables import compute_tables, load_dataset, write_tables

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BATCH_SIZES = (64, 256, 1024, 4096)
LEARNING_RATES = (0.1, 0.01, 0.001, 0.0001)
HARDWARE_WATTS = {"h100": 300.0, "a100": 250.0, "lab-gpu": 120.0}  # lab-gpu takes a fallback colour
PARADIGM_FACTOR = {"pamap2-frozen": 0.3, "pamap2-unfrozen": 0.6}


def frame(rows: list[dict], schema) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=pl.from_arrow(schema.empty_table()).schema, strict=False)


def write_partial_grid(dataset_dir: Path) -> list[str]:
    """A dataset with holes: every paradigm, some setups, 3 hardware targets; samples for two runs.

    Returns the run ids that have samples (the first completed run first).
    """
    runs, epochs, samples = [], [], []
    for p_index, paradigm in enumerate(sorted(workloads())):
        for hardware, watts in HARDWARE_WATTS.items():
            for setup in range(1, 17):
                if (setup + p_index) % 5 == 0 or (hardware == "lab-gpu" and setup > 8):
                    continue  # holes in the grid
                bs, lr = BATCH_SIZES[(setup - 1) // 4], LEARNING_RATES[(setup - 1) % 4]
                for repeat in (1, 2):
                    run_id = f"r-{paradigm}-{hardware}-{setup:02d}-{repeat}"
                    n_epochs = 2 + (setup * 3 + p_index) % 7
                    epoch_j = watts * (4.0 + 60.0 / bs) * (1 + 0.05 * repeat) * PARADIGM_FACTOR.get(paradigm, 1.0)
                    status = "FAILED" if setup == 7 and repeat == 2 else "COMPLETED"
                    runs.append({
                        "run_id": run_id, "experiment": "fig", "dataset": workloads()[paradigm].dataset,
                        "paradigm": paradigm, "setup": setup, "batch_size": bs, "learning_rate": lr, "repeat": repeat,
                        "hardware": hardware, "meter": "synthetic", "status": status, "epochs": n_epochs,
                        "threshold_epoch": 2 if setup % 4 else None, "best_val_accuracy": 0.85,
                        "duration_s": 5.0 * n_epochs, "energy_j": epoch_j * n_epochs, "idle_power_w": 20.0,
                        "net_energy_j": (epoch_j - 100.0) * n_epochs, "attempts": 1, "device": "cpu",
                        "data_synthetic": True, "energy_domains": "gpu+cpu+dram",
                        **{f"{d}_energy_j": epoch_j * n_epochs * f for d, f in (("gpu", 0.8), ("cpu", 0.15),
                                                                                 ("dram", 0.05))},
                    })
                    for epoch in range(1, n_epochs + 1):
                        epochs.append({
                            "run_id": run_id, "attempt": 1, "epoch": epoch, "start_s": 100.0 + 5.0 * epoch,
                            "duration_s": 5.0, "energy_j": epoch_j, "energy_eq1_j": epoch_j * 1.01,
                            "mean_power_w": epoch_j / 5.0, "samples": 50, "coverage_frac": 1.0, "low_samples": False,
                            "net_energy_j": epoch_j - 100.0, "val_accuracy": 0.5 + 0.1 * epoch,
                        })
                    if paradigm == "celeba-attributes" and setup in (1, 2) and repeat == 1:
                        samples += [{
                            "run_id": run_id, "attempt": 1, "time_s": 100.0 + 0.5 * i, "epoch": i // 10,
                            "phase": "idle" if i < 10 else ("eval" if i % 10 >= 8 else "train"),
                            "power_w": 20.0 if i < 10 else watts * (0.8 + 0.2 * ((i % 10) < 8)),
                            "energy_j": None, "meter": "synthetic", "_hardware": hardware,
                        } for i in range(10 * (n_epochs + 1))]
    paths = DatasetPaths(dataset_dir)
    paths.dir.mkdir(parents=True)
    frame(runs, RUN_SCHEMA).write_parquet(paths.runs)
    frame(epochs, EPOCH_SCHEMA).write_parquet(paths.epochs)
    all_samples = pl.DataFrame(samples)
    for (hardware,), part in all_samples.group_by("_hardware"):
        part_dir = paths.samples_dir / f"hardware={hardware}" / "dataset=celeba"
        part_dir.mkdir(parents=True)
        frame(part.drop("_hardware").to_dicts(), SAMPLE_SCHEMA).write_parquet(part_dir / "part.parquet")
    return sorted(all_samples["run_id"].unique())


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    dataset_dir = tmp_path_factory.mktemp("results") / "dataset"
    return dataset_dir, write_partial_grid(dataset_dir)


@pytest.fixture(scope="module")
def drawn(dataset: tuple[Path, list[str]], tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return F.draw_figures(dataset[0], None, tmp_path_factory.mktemp("figures"))


def context(dataset_dir: Path, **kwargs: object) -> F.FigureContext:
    runs, epochs = load_dataset(dataset_dir)
    return F.FigureContext(runs, epochs, compute_tables(runs, epochs), DatasetPaths(dataset_dir).samples_dir,
                           F.hardware_colours(runs["hardware"].to_list()), **kwargs)


def test_every_figure_is_a_valid_png_and_pdf(drawn: list[Path], dataset: tuple[Path, list[str]]) -> None:
    names = {p.stem for p in drawn}
    first_run = dataset[1][0]  # celeba-attributes sorts first among the completed runs
    expected = {f"energy_per_epoch_{d}_{h}" for d in ("pamap2", "celeba") for h in HARDWARE_WATTS}
    expected |= {f"relative_energy_{d}_{h}" for d in ("pamap2", "celeba") for h in HARDWARE_WATTS}
    expected |= {"total_energy", "energy_by_domain", "break_even", "multitask", "multitask_setups", f"power_{first_run}"}
    assert names == expected
    assert len(drawn) == 2 * len(expected)
    for path in drawn:
        head = path.read_bytes()[:8]
        assert head == PNG_SIGNATURE if path.suffix == ".png" else head.startswith(b"%PDF-"), path
        assert path.stat().st_size > 1000
    assert not [p for p in drawn[0].parent.iterdir() if p.name.endswith(".tmp")]


def test_figures_read_written_tables(dataset: tuple[Path, list[str]], tmp_path: Path) -> None:
    runs, epochs = load_dataset(dataset[0])
    computed = compute_tables(runs, epochs)
    write_tables(computed, tmp_path)
    read = F._tables(runs, epochs, tmp_path)
    assert read.keys() == computed.keys() and all(read[k].equals(computed[k]) for k in computed)
    (tmp_path / "multitask.parquet").unlink()  # an incomplete tables dir: computed afresh
    assert all(t.equals(computed[k]) for k, t in F._tables(runs, epochs, tmp_path).items())


def test_power_figure_of_a_chosen_run(dataset: tuple[Path, list[str]], tmp_path: Path) -> None:
    (name, fig), = F.FIGURES["power"](context(dataset[0], run_id=dataset[1][1]))
    assert name == f"power_{dataset[1][1]}"
    png, pdf = F.save_figure(fig, tmp_path, name)
    assert (png, pdf) == figure_paths(tmp_path, name)
    assert png.read_bytes()[:8] == PNG_SIGNATURE and pdf.read_bytes().startswith(b"%PDF-")
    unsampled = "r-pamap2-baseline-h100-01-1"
    assert list(F.FIGURES["power"](context(dataset[0], run_id=unsampled))) == []  # no samples: skipped


def test_figures_are_byte_identical_when_redrawn(dataset: tuple[Path, list[str]], drawn: list[Path],
                                                  tmp_path: Path) -> None:
    ctx = context(dataset[0])
    for family in ("break_even", "power"):
        for name, fig in F.FIGURES[family](ctx):
            again = F.save_figure(fig, tmp_path, name)
            assert [p.read_bytes() for p in again] == [p.read_bytes() for p in figure_paths(drawn[0].parent, name)]


def test_unknown_run_and_missing_dataset_are_user_errors(dataset: tuple[Path, list[str]], tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="no-such-run: no such run"):
        F.draw_figures(dataset[0], None, tmp_path, run_id="no-such-run")
    with pytest.raises(ResultsError, match="no dataset here"):
        F.draw_figures(tmp_path / "nowhere", None, tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("family", sorted(set(F.FIGURES) - {"search"}))  # search: tests/search (needs a search)
def test_each_family_draws_on_the_partial_grid_and_skips_an_empty_dataset(
        family: str, dataset: tuple[Path, list[str]], tmp_path: Path) -> None:
    full = context(dataset[0])
    assert list(F.FIGURES[family](full))
    empty_runs, empty_epochs = full.runs.clear(), full.epochs.clear()
    empty = F.FigureContext(empty_runs, empty_epochs, compute_tables(empty_runs, empty_epochs), tmp_path / "none", {})
    assert list(F.FIGURES[family](empty)) == []


def test_hardware_keeps_its_colour() -> None:
    colours = F.hardware_colours(["lab-gpu", "gpu-h100", "a100", "zeta", "a100"])
    assert colours["gpu-h100"] == F.HARDWARE_COLOURS["h100"] and colours["a100"] == F.HARDWARE_COLOURS["a100"]
    assert (colours["lab-gpu"], colours["zeta"]) == F.FALLBACK_COLOURS[:2]


def test_importing_figures_does_not_import_matplotlib() -> None:
    code = "import sys, energybench.figures, energybench.tables; sys.exit('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
