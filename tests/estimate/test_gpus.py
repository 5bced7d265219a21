"""The GPU table: driver names and hardware labels map to specs; unknown GPUs are a clear error."""

from __future__ import annotations

import pytest

from energybench.errors import EstimateError
from energybench.estimate.gpus import CPU, gpu_spec, lookup, run_gpu


@pytest.mark.parametrize(("name", "canonical"), [
    ("NVIDIA H100 80GB HBM3", "h100-sxm"), ("NVIDIA H100 PCIe", "h100-pcie"), ("h100", "h100-sxm"),
    ("NVIDIA A100-SXM4-40GB", "a100-sxm-40gb"), ("NVIDIA A100-SXM4-80GB", "a100-sxm-80gb"),
    ("NVIDIA A100 80GB PCIe", "a100-pcie-80gb"), ("a100", "a100-sxm-40gb"),
    ("NVIDIA GeForce RTX 3090", "rtx3090"), ("rtx3090", "rtx3090"), ("NVIDIA GeForce RTX 3090 Ti", "rtx3090ti"),
    ("Tesla V100-SXM2-32GB", "v100-32gb"), ("Tesla T4", "t4"), ("NVIDIA L40S", "l40s"), ("NVIDIA L4", "l4"),
    ("NVIDIA A10", "a10"), ("NVIDIA RTX 6000 Ada Generation", "rtx6000-ada"), ("NVIDIA RTX A6000", "rtx-a6000"),
])
def test_names_and_labels_map_to_one_spec(name: str, canonical: str) -> None:
    spec = lookup(name)
    assert spec is not None and spec.name == canonical
    assert spec.cuda_cores > 0 and spec.memory_gb > 0 and spec.tdp_w > 0


def test_the_study_gpus() -> None:
    assert (gpu_spec("h100").cuda_cores, gpu_spec("h100").tdp_w) == (16_896, 700.0)
    assert (gpu_spec("a100").cuda_cores, gpu_spec("a100").memory_gb) == (6_912, 40.0)
    assert (gpu_spec("rtx3090").cuda_cores, gpu_spec("rtx3090").tdp_w) == (10_496, 350.0)


def test_unknown_gpu_names_run_and_table() -> None:
    with pytest.raises(EstimateError, match=r"run abc: hardware: unknown GPU 'tpu-v5'.*known: .*h100-sxm.*energybench/estimate/gpus.py"):
        run_gpu(None, "tpu-v5", "cuda", where="run abc")


def test_cpu_runs_get_the_documented_pseudo_spec() -> None:
    assert run_gpu(None, "cpu", None) == CPU
    assert run_gpu(None, "whatever-partition", "cpu") == CPU  # trained on the CPU: the label does not matter
    assert (CPU.cuda_cores, CPU.memory_gb, CPU.tdp_w) == (0, 0.0, 15.0)


def test_recorded_driver_name_wins_over_the_label() -> None:
    assert run_gpu("NVIDIA H100 PCIe", "a100", "cuda").name == "h100-pcie"
