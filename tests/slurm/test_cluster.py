"""What sinfo/scontrol say about partitions and limits, and the checks against the profile."""

from __future__ import annotations

from pathlib import Path


from energybench.slurm import cluster
from energybench.slurm.profile import load_profile, parse_profile

from .conftest import DEV_PROFILE
from .fakes import SINFO


def test_cluster_parsing_and_checks(tmp_path: Path) -> None:
    assert [cluster.parse_time_min(t) for t in ("infinite", "30:00", "1:00:00", "2-00:00:00", "60")] == \
        [None, 30, 60, 2880, 60]
    assert cluster.parse_gres("gpu:a100:4(S:0-1),gpu:v100:2") == {"a100": 4, "v100": 2}
    assert cluster.parse_gres("gpu:4") == {"": 4} and cluster.parse_gres("(null)") == {}
    facts = cluster.ClusterFacts(cluster.parse_sinfo(SINFO), 1001)
    prof = parse_profile({"hardware": {
        "h100": {"partition": "h100", "time_limit_min": 90},
        "a100": {"partition": "nope"},
        "rtx3090": {"partition": "rtx3090", "gpu_type": "rtx3090", "cpus_per_task": 8}}}, tmp_path / "p.yaml")
    problems = cluster.check_profile(prof, ["h100", "a100", "rtx3090"], 30, facts)
    assert any("hardware.h100.time_limit_min: 90 min exceeds partition 'h100'" in p for p in problems)
    assert any("hardware.a100.partition: partition 'nope' does not exist" in p and "h100" in p for p in problems)
    assert any("hardware.rtx3090.gpu_type" in p and "offers no GRES gpu:rtx3090" in p for p in problems)
    assert any("hardware.rtx3090.cpus_per_task: 8" in p for p in problems)
    assert cluster.check_profile(load_profile(DEV_PROFILE), ["h100", "a100", "rtx3090", "cpu"], 10, facts) == []
