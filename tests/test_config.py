from __future__ import annotations

from pathlib import Path

import pytest

from energybench.config import load_config, override_executor
from energybench.errors import ConfigError

from .conftest import REPO, minimal_config


@pytest.mark.parametrize("name", ["demo.yaml", "paper.yaml"])
def test_shipped_configs_validate(name: str) -> None:
    exp = load_config(REPO / "configs" / name)
    assert exp.grid.setups()[0][0] == 1
    assert exp.data.pamap2 is not None and exp.data.pamap2.path.is_absolute()


def test_paper_config_is_the_study() -> None:
    exp = load_config(REPO / "configs" / "paper.yaml")
    assert exp.grid.batch_sizes == [64, 256, 1024, 4096]
    assert exp.grid.learning_rates == [0.1, 0.01, 0.001, 0.0001]
    assert len(exp.paradigms) == 7 and exp.repeats == 2
    assert exp.hardware == ["h100", "a100", "rtx3090"]
    assert exp.early_stopping.threshold == 0.8 and exp.early_stopping.patience_epochs == 40


def test_setups_are_batch_major_like_table_1() -> None:
    exp = load_config(REPO / "configs" / "paper.yaml")
    setups = exp.grid.setups()
    assert setups[0] == (1, 64, 0.1)
    assert setups[3] == (4, 64, 0.0001)
    assert setups[4] == (5, 256, 0.1)
    assert setups[15] == (16, 4096, 0.0001)


def test_executor_override_changes_only_the_kind(tmp_path: Path, write_config) -> None:
    exp = load_config(write_config(minimal_config(tmp_path, executor={"kind": "local", "timeout_min": 7})))
    slurm = override_executor(exp, "slurm")
    assert (slurm.executor.kind, slurm.executor.timeout_min) == ("slurm", 7)
    assert exp.executor.kind == "local"  # the loaded config is left as it was
    assert slurm.model_dump(exclude={"executor"}) == exp.model_dump(exclude={"executor"})
    assert override_executor(exp, None) is exp and override_executor(exp, "local") is exp


def test_relative_data_paths_resolve_against_the_config_folder(tmp_path: Path, write_config) -> None:
    cfg = minimal_config(tmp_path)
    cfg["data"]["pamap2"]["path"] = "sub/pamap2"
    exp = load_config(write_config(cfg))
    assert exp.data.pamap2.path == (tmp_path / "sub" / "pamap2").resolve()


def test_every_error_is_listed_at_once_naming_the_field(tmp_path: Path, write_config) -> None:
    cfg = minimal_config(tmp_path, paradigms=["pamap2-basline"], repeats=0)
    cfg["grid"] = {"batch_sizes": [0], "learning_rates": [-0.1]}
    path = write_config(cfg)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    msg = str(exc.value)
    assert str(path) in msg and "\n" not in msg
    for field in ("grid.batch_sizes.0", "grid.learning_rates.0", "repeats", "paradigms"):
        assert field in msg
    assert "did you mean 'pamap2-baseline'" in msg
    assert "4 error(s)" in msg


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda c: c.update(early_stoping={}), "early_stoping: unknown key (did you mean 'early_stopping'?)"),
        (lambda c: c["grid"].update(batch_sizes=[]), "grid.batch_sizes"),
        (lambda c: c["grid"].update(learning_rates=[0.0]), "grid.learning_rates.0"),
        (lambda c: c.update(paradigms=["pamap2-frozen"]), "needs 'pamap2-autoencoder'"),
        (lambda c: c.update(paradigms=["celeba-identity"]), "needs a data.celeba section"),
        (lambda c: c.update(hardware=[]), "hardware"),
        (lambda c: c.update(meter={"kind": "joulemeter"}), "meter.kind"),
        (lambda c: c.update(meter={"period_s": 0.001}), "meter.period_s"),
        (lambda c: c.update(name="bad name"), "name"),
        (lambda c: c["grid"].update(batch_sizes=[64, 64]), "unique"),
        (lambda c: c.update(grid=None), "grid: expected a mapping of keys, got nothing (the key is empty)"),
        (lambda c: c.update(meter=[0.1]), "meter: expected a mapping of keys, got a list"),
    ],
)
def test_bad_configs(tmp_path: Path, write_config, mutate, expected: str) -> None:
    cfg = minimal_config(tmp_path)
    mutate(cfg)
    with pytest.raises(ConfigError, match=None) as exc:
        load_config(write_config(cfg))
    assert expected in str(exc.value)


def test_malformed_yaml_names_the_line(write_config) -> None:
    path = write_config("name: demo\ngrid: [\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert "malformed YAML at line" in str(exc.value) and str(path) in str(exc.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.yaml")


def test_top_level_must_be_a_mapping(write_config) -> None:
    with pytest.raises(ConfigError, match="mapping"):
        load_config(write_config("- a\n- b\n"))
