"""The cluster profile: shipped profiles load, errors name the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from energybench.errors import ConfigError
from energybench.slurm.profile import load_profile, parse_profile

from ..conftest import eb
from .conftest import DEV_PROFILE, small_demo
from .fakes import EXAMPLE


def test_shipped_profiles_load() -> None:
    ex = load_profile(EXAMPLE)
    assert set(ex.hardware) == {"h100", "a100", "rtx3090"}
    assert ex.entry("rtx3090").time_limit_min == 480 and ex.entry("h100").gres == "gpu:h100:1"
    assert ex.entry("a100").setup == ex.entry("h100").setup  # merged from defaults
    dev = load_profile(DEV_PROFILE)
    assert dev.entry("cpu").partition == "h100" and dev.entry("cpu").gres is None


def test_profile_errors_name_file_and_field(tmp_path: Path) -> None:
    raw = {"defaults": {"cpus_per_task": 0}, "hardware": {"h100": {"partiton": "x"}, "a100": {"partition": "a"}}}
    with pytest.raises(ConfigError) as err:
        parse_profile(raw, tmp_path / "p.yaml")
    msg = str(err.value)
    assert str(tmp_path / "p.yaml") in msg
    assert "hardware.h100.partiton: unknown key (did you mean 'partition'?)" in msg
    assert "hardware.h100.partition: Field required" in msg
    assert msg.count("defaults.cpus_per_task") == 1  # a bad default is reported once, where it is written
    with pytest.raises(ConfigError, match=r"hardware.h100.sbatch: 'signal' is set by energybench; "
                                          r"use the profile field signal_delay_s"):
        parse_profile({"hardware": {"h100": {"partition": "p", "sbatch": {"signal": "USR1"}}}}, tmp_path / "p.yaml")


def test_hardware_missing_from_profile_is_one_line(tmp_path: Path, write_config) -> None:
    cfg = small_demo(tmp_path, hardware=["h100", "v100"])
    r = eb("submit", str(write_config(cfg)), "--results", str(tmp_path / "res"), "--dry-run")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "'v100' not in the cluster profile" in r.stderr and str(DEV_PROFILE) in r.stderr
    assert not (tmp_path / "res").exists()
