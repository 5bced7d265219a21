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
     ["paradigms: unknown paradigm 'pamap2-basline' (did you mean 'pamap2-baseline'?)"]),
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
    assert "sinfo lists: a100, h100, rtx3090" in line
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
    write_layout(prepare(first, results, None), first)  # what `submit` writes before it runs anything
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
