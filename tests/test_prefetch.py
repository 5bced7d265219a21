from __future__ import annotations

from pathlib import Path

from .conftest import eb, minimal_config


def test_prefetch_without_network_fails_with_one_line(tmp_path: Path, write_config) -> None:
    cfg = minimal_config(tmp_path, paradigms=["celeba-identity"])
    cfg["data"] = {"celeba": {"path": str(tmp_path / "celeba"), "generate": True, "weights": "imagenet"}}
    env = {"ENERGYBENCH_WEIGHTS_DIR": str(tmp_path / "w"), "HF_HOME": str(tmp_path / "hf"),
           "HF_HUB_OFFLINE": "1"}
    r = eb("prefetch", str(write_config(cfg)), env=env)
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stderr.startswith("energybench: error: ") and r.stderr.count("\n") == 1
    assert "cannot download" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "w" / "resnet18.a1_in1k.safetensors").exists()


def test_prefetch_accepts_a_local_weights_file_and_checks_data(tmp_path: Path, write_config) -> None:
    import torch
    from energybench.worker.models import build_resnet18

    weights = tmp_path / "resnet18.pt"
    torch.save(build_resnet18("none").state_dict(), weights)
    cfg = minimal_config(tmp_path, paradigms=["celeba-identity"])
    cfg["data"] = {"celeba": {"path": str(tmp_path / "celeba"), "generate": True, "weights": str(weights)}}
    r = eb("prefetch", str(write_config(cfg)))
    assert r.returncode == 0, r.stderr
    assert "data celeba" in r.stdout and f"ok ({weights})" in r.stdout


def test_submit_refuses_missing_weights_before_writing(tmp_path: Path, write_config) -> None:
    cfg = minimal_config(tmp_path, paradigms=["celeba-identity"])
    cfg["data"] = {"celeba": {"path": str(tmp_path / "celeba"), "generate": True,
                              "weights": str(tmp_path / "missing.safetensors")}}
    r = eb("submit", str(write_config(cfg)), "--results", str(tmp_path / "res"))
    assert r.returncode == 1 and "weights file missing" in r.stderr
    assert not (tmp_path / "res").exists()
