"""Bad input through the real CLI: one line on stderr naming the file and the field, a non-zero
exit, no traceback, and nothing written (the results directory is not created, or not changed).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import eb, tiny_config, write_yaml
from .ledger import record

Mutation = Callable[[dict[str, Any], Path], "dict[str, Any] | str"]


def _set(path: str, value: Any) -> Mutation:
    def mutate(cfg: dict[str, Any], tmp: Path) -> dict[str, Any]:
        *parents, last = path.split(".")
        node = cfg
        for key in parents:
            node = node[key]
        node[last] = value
        return cfg

    return mutate


def _malformed(cfg: dict[str, Any], tmp: Path) -> str:
    return yaml.safe_dump(cfg, sort_keys=False).replace("grid:\n", "grid: [\n", 1)


def _celeba_missing_weights(cfg: dict[str, Any], tmp: Path) -> dict[str, Any]:
    cfg["paradigms"] = ["celeba-identity"]
    cfg["data"] = {"celeba": {"path": str(tmp / "celeba"), "generate": True, "max_images": 60, "identities": 10,
                              "weights": str(tmp / "missing-resnet18.safetensors")}}
    return cfg


# (case, mutation, exit code, what the one line must name besides the config file)
CONFIG_CASES = [
    ("malformed YAML", _malformed, 2, ["malformed YAML at line 4"]),
    ("unknown key", _set("early_stoping", {"patience_epochs": 3}), 2,
     ["early_stoping: unknown key (did you mean 'early_stopping'?)"]),
    ("unknown nested key", _set("meter.flush_secs", 1.0), 2, ["meter.flush_secs: unknown key (did you mean 'flush_s'?)"]),
    ("unknown paradigm", _set("paradigms", ["pamap2-basline"]), 2,
     ["paradigms: unknown workload 'pamap2-basline' (did you mean 'pamap2-baseline'?)"]),
    ("batch size 0", _set("grid.batch_sizes", [64, 0]), 2, ["grid.batch_sizes.1", "greater than 0"]),
    ("batch size < 0", _set("grid.batch_sizes", [-64]), 2, ["grid.batch_sizes.0", "greater than 0"]),
    ("learning rate 0", _set("grid.learning_rates", [0.0]), 2, ["grid.learning_rates.0", "greater than 0"]),
    ("learning rate < 0", _set("grid.learning_rates", [-0.01]), 2, ["grid.learning_rates.0", "greater than 0"]),
    ("empty grid", _set("grid", {"batch_sizes": [], "learning_rates": []}), 2,
     ["grid.batch_sizes: List should have at least 1 item", "grid.learning_rates"]),
    ("grid without values", _set("grid", None), 2, ["grid: "]),
    ("missing dataset path", lambda cfg, tmp: _set("data.pamap2.path", str(tmp / "no-such-data"))(cfg, tmp), 1,
     ["data.pamap2.path: ", "no-such-data", "no pamap2 data here"]),
    ("missing weights file", _celeba_missing_weights, 1,
     ["data.celeba.weights: ", "missing-resnet18.safetensors", "weights file missing"]),
]


def _digest(d: Path) -> dict[str, str]:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize("case, mutate, code, names", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_bad_config_is_one_line_naming_file_and_field_and_writes_nothing(
        case: str, mutate: Mutation, code: int, names: list[str], pamap2_dir: Path, tmp_path: Path,
        cli_one_line: Callable[[subprocess.CompletedProcess[str]], str]) -> None:
    config = write_yaml(tmp_path / "bad.yaml", mutate(tiny_config(pamap2_dir), tmp_path))
    results = tmp_path / "res"
    r = eb("submit", str(config), "--results", str(results))
    line = cli_one_line(r)
    assert r.returncode == code, line
    assert str(config) in line or f"{config.name}:" in line, line
    for name in names:
        assert name in line, line
    assert not results.exists()  # nothing written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]  # no data generated either


@pytest.mark.slurm
def test_partition_missing_on_the_cluster(devcluster: Any, pamap2_dir: Path, tmp_path: Path,
                                          cli_one_line: Callable[[subprocess.CompletedProcess[str]], str]) -> None:
    profile = write_yaml(tmp_path / "profile.yaml", {
        "defaults": {"gpus": 0, "cpus_per_task": 1, "time_limit_min": 5},
        "hardware": {"h100": {"partition": "v100"}}})
    config = write_yaml(tmp_path / "bad.yaml", tiny_config(pamap2_dir, "slurm"))
    results = tmp_path / "res"
    r = eb("submit", str(config), "--results", str(results), "--profile", str(profile))
    line = cli_one_line(r)
    assert r.returncode == 2
    assert str(profile) in line and "hardware.h100.partition: partition 'v100' does not exist" in line, line
    assert "sinfo lists: a100, h100, mixed, rtx3090" in line
    assert not results.exists()


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Any:
    """An empty directory nobody may write to: a read-only bind mount as root (root ignores modes)."""
    d = tmp_path / "ro"
    d.mkdir()
    if os.geteuid() != 0:
        d.chmod(0o555)
        yield d
        d.chmod(0o755)
        return
    subprocess.run(["mount", "--bind", str(d), str(d)], check=True, timeout=30)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(d)], check=True, timeout=30)
        yield d
    finally:
        subprocess.run(["umount", str(d)], check=True, timeout=30)


@pytest.mark.parametrize("inside", [False, True], ids=["is-the-results-dir", "holds-the-results-dir"])
def test_results_directory_that_is_not_writable(inside: bool, read_only_dir: Path, pamap2_dir: Path, tmp_path: Path,
                                                cli_one_line: Callable[[subprocess.CompletedProcess[str]], str]) -> None:
    config = write_yaml(tmp_path / "ok.yaml", tiny_config(pamap2_dir))
    results = read_only_dir / "res" if inside else read_only_dir
    r = eb("submit", str(config), "--results", str(results))
    line = cli_one_line(r)
    assert r.returncode == 1
    assert f"{read_only_dir}: results directory is not writable; choose another with --results" in line, line
    assert list(read_only_dir.iterdir()) == []


def test_results_directory_made_by_a_different_config(pamap2_dir: Path, tmp_path: Path,
                                                      cli_one_line: Callable[[subprocess.CompletedProcess[str]],
                                                                             str]) -> None:
    from energybench.submit import prepare, write_layout

    results = tmp_path / "res"
    first = write_yaml(tmp_path / "first.yaml", tiny_config(pamap2_dir, early_stopping={"max_epochs": 1}))
    write_layout(prepare(first, results, None))  # what `submit` writes before it runs anything
    before = _digest(results)
    other = write_yaml(tmp_path / "other.yaml", tiny_config(pamap2_dir, repeats=2, early_stopping={"max_epochs": 1}))
    r = eb("submit", str(other), "--results", str(results))
    line = cli_one_line(r)
    assert r.returncode == 1
    assert f"{results}: made by another config (experiment 'faults', 1 runs)" in line, line
    assert "new --results directory" in line
    assert _digest(results) == before  # not a byte changed
    record(f"bad input ({len(CONFIG_CASES)} config cases, partition, read-only, foreign dir)", affected=0,
           recovered=0, lost_beyond_flush=0, detail="one line naming file and field, exit 1/2, nothing written")


# --- Paths of the wrong kind: one line, exit non-zero, nothing written --------------------------------------------

#: The first bytes of a PNG: a figure passed where a config belongs (0x89 is not UTF-8).
BINARY = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00"

# (case, how the path is made, what the one line says)
BAD_CONFIG_FILES: list[tuple[str, Callable[[Path], object], str]] = [
    ("binary", lambda p: p.write_bytes(BINARY), "not a text file (byte 0 is not UTF-8)"),
    ("empty", lambda p: p.write_text(""), "file is empty"),
    ("comments only", lambda p: p.write_text("# name: demo\n"), "file is empty"),
    ("directory", lambda p: p.mkdir(), "is a directory; give the path of a"),
    ("missing", lambda p: None, "no such"),
]
#: Every command that reads a config, with the other arguments it needs.
CONFIG_COMMANDS = {
    "plan": [], "submit": ["--results", "res"], "prefetch": [], "estimate predict": ["--model", "model.joblib"],
}


def _listing(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*"))


@pytest.mark.parametrize("case, make, says", BAD_CONFIG_FILES, ids=[c[0] for c in BAD_CONFIG_FILES])
@pytest.mark.parametrize("command", sorted(CONFIG_COMMANDS))
def test_config_that_is_not_a_yaml_file(command: str, case: str, make: Callable[[Path], object], says: str,
                                        tmp_path: Path,
                                        cli_one_line: Callable[[subprocess.CompletedProcess[str]], str]) -> None:
    config = tmp_path / "exp.yaml"
    make(config)
    before = _listing(tmp_path)
    extra = [str(tmp_path / a) if i % 2 else a for i, a in enumerate(CONFIG_COMMANDS[command])]
    line = cli_one_line(eb(*command.split(), str(config), *extra))
    assert line.startswith(f"energybench: error: {config}: ") and says in line, line
    assert "config" in line, line
    assert _listing(tmp_path) == before


@pytest.mark.parametrize("case, make, says", BAD_CONFIG_FILES, ids=[c[0] for c in BAD_CONFIG_FILES])
def test_cluster_profile_that_is_not_a_yaml_file(case: str, make: Callable[[Path], object], says: str,
                                                 pamap2_dir: Path, tmp_path: Path,
                                                 cli_one_line: Callable[[subprocess.CompletedProcess[str]],
                                                                        str]) -> None:
    config = write_yaml(tmp_path / "ok.yaml", tiny_config(pamap2_dir, "slurm"))
    profile = tmp_path / "profile.yaml"
    make(profile)
    before = _listing(tmp_path)
    r = eb("submit", str(config), "--results", str(tmp_path / "res"), "--profile", str(profile), "--dry-run")
    line = cli_one_line(r)
    assert r.returncode == 2
    assert line.startswith(f"energybench: error: {profile}: ") and says in line and "cluster profile" in line, line
    assert _listing(tmp_path) == before


#: Every command that reads a results (or dataset) directory, with the other arguments it needs.
RESULTS_COMMANDS = {
    "status": [], "cancel": [], "collect": [], "tables": [], "figures": [], "report": [], "estimate fit": [],
    "estimate evaluate": [], "estimate run": ["0123abcd"],
}


@pytest.mark.parametrize("case", ["a file", "missing"])
@pytest.mark.parametrize("command", sorted(RESULTS_COMMANDS))
def test_results_directory_that_is_a_file_or_missing(command: str, case: str, tmp_path: Path,
                                                     cli_one_line: Callable[[subprocess.CompletedProcess[str]],
                                                                            str]) -> None:
    results = tmp_path / "results"
    if case == "a file":
        results.write_text("name: demo\n")  # e.g. the config, given where the results belong
    before = _listing(tmp_path)
    r = eb(*command.split(), str(results), *RESULTS_COMMANDS[command])
    line = cli_one_line(r)
    assert r.returncode == 2
    says = "no such directory" if case == "missing" else "is a file, not a directory"
    assert line.startswith(f"energybench: error: {results}: {says}; "), line
    assert ("DATASET is a dataset directory" if command == "tables" else "RESULTS is the --results directory") in line
    assert _listing(tmp_path) == before


# (case, command line with {d} the empty directory and {f} a file, what the one line names)
WRONG_KIND_OPTIONS = [
    ("tables --out a file", ["tables", "{d}", "--out", "{f}"], "{f}: is a file, not a directory"),
    ("report --reference a file", ["report", "{d}", "--reference", "{f}"], "{f}: is a file, not a directory"),
    ("report --reference missing", ["report", "{d}", "--reference", "{d}/nope"], "{d}/nope: no such directory"),
    ("estimate fit --out a directory", ["estimate", "fit", "{d}", "--out", "{d}"], "{d}: is a directory, not a file"),
    ("estimate predict --model a directory", ["estimate", "predict", "{f}", "--model", "{d}"],
     "{d}: is a directory, not a file"),
]


@pytest.mark.parametrize("case, argv, says", WRONG_KIND_OPTIONS, ids=[c[0] for c in WRONG_KIND_OPTIONS])
def test_option_path_of_the_wrong_kind(case: str, argv: list[str], says: str, tmp_path: Path,
                                       cli_one_line: Callable[[subprocess.CompletedProcess[str]], str]) -> None:
    d, f = tmp_path / "d", tmp_path / "f.yaml"
    d.mkdir()
    f.write_text("name: demo\n")
    line = cli_one_line(eb(*(a.format(d=d, f=f) for a in argv)))
    assert line.startswith(f"energybench: error: {says.format(d=d, f=f)}"), line
    assert _listing(tmp_path) == ["d", "f.yaml"]


def _dataset(d: Path, statuses: list[str]) -> Path:
    """A dataset directory whose runs have ``statuses`` (every other column null) and no epochs."""
    import polars as pl

    from energybench.paths import DatasetPaths

    paths = DatasetPaths(d)
    d.mkdir(parents=True)
    pl.DataFrame({"run_id": [f"r{i}" for i in range(len(statuses))], "status": statuses},
                 schema={"run_id": pl.String, "status": pl.String}).write_parquet(paths.runs)
    pl.DataFrame({"run_id": []}, schema={"run_id": pl.String}).write_parquet(paths.epochs)
    return d


@pytest.mark.parametrize("statuses, says", [
    (["FAILED", "TIMEOUT", "FAILED"], "(3 runs: 2 FAILED, 1 TIMEOUT); see `energybench status DIR`"),
    (["completed", "done", "FAILED"], "(3 runs: 1 FAILED, 1 'completed', 1 'done'); 'completed', 'done' are not "
                                      "statuses of the schema (PENDING, RUNNING, COMPLETED, FAILED,"),
    ([], "(0 runs)"),
], ids=["none completed", "foreign statuses", "no runs"])
def test_tables_of_a_dataset_without_a_completed_run(statuses: list[str], says: str, tmp_path: Path,
                                                     cli_one_line: Callable[[subprocess.CompletedProcess[str]],
                                                                            str]) -> None:
    dataset = _dataset(tmp_path / "dataset", statuses)
    r = eb("tables", str(dataset))
    line = cli_one_line(r)
    assert r.returncode == 1
    assert line.startswith(f"energybench: error: {dataset}: nothing to tabulate, no run is COMPLETED {says}"), line
    assert not (tmp_path / "tables").exists()


def test_tables_of_a_dataset_with_one_completed_run_are_written(tmp_path: Path) -> None:
    dataset = _dataset(tmp_path / "dataset", ["FAILED", "COMPLETED"])
    r = eb("tables", str(dataset))
    assert r.returncode == 0, r.stderr
    assert r.stderr == "" and (tmp_path / "tables").is_dir()
