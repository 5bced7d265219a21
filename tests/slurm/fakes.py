"""A fake SLURM for tests without a cluster: ``energybench.slurm.shell.RUNNER`` replaced.

It answers sbatch, sacct, squeue, sinfo, scontrol and scancel like the dev
cluster would, so the whole submission path runs without one;
tests/slurm/test_executor_cluster.py runs the same path against the real dev cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from energybench.slurm import shell

from .conftest import REPO

EXAMPLE = REPO / "slurm_templates" / "profile.example.yaml"
SINFO = "h100|1:00:00|gpu:4|4|21695|up\na100|1:00:00|gpu:4|4|21695|up\nrtx3090|1:00:00|gpu:4|4|21695|up\n"


class FakeSlurm:
    """Answers SLURM commands like the dev cluster would; records every call."""

    def __init__(self, max_array_size: int = 1001) -> None:
        self.calls: list[list[str]] = []
        self.next_job = 100
        self.scripts: dict[str, str] = {}
        self.sacct = ""
        self.sacct_error: str | None = None
        self.squeue = ""
        self.scontrol_jobs = ""  # scontrol -o show job lines (the jobs slurmctld still keeps)
        self.max_array_size = max_array_size
        self.assoc = ""  # sacctmgr show assoc lines (Account|Partition|MaxJobs|MaxSubmit|QOS|DefaultQOS)
        self.qos = ""  # sacctmgr show qos lines (Name|MaxJobsPU|MaxSubmitPU)

    def __call__(self, args: Sequence[str], timeout_s: float, stdin: str | None) -> shell.Result:
        args = list(args)
        self.calls.append(args)
        ok = lambda out: shell.Result(tuple(args), 0, out, "")  # noqa: E731
        if args[0] == "sbatch":
            job = str(self.next_job)
            self.next_job += 1
            self.scripts[job] = Path(args[1]).read_text()
            return ok(f"Submitted batch job {job}\n")
        if args[0] == "sinfo":
            return ok(SINFO)
        if args[:3] == ["scontrol", "show", "config"]:
            return ok(f"MaxArraySize            = {self.max_array_size}\n")
        if args[0] == "sacct":
            if self.sacct_error:
                return shell.Result(tuple(args), 1, "", self.sacct_error)
            return ok(self.sacct)
        if args[0] == "squeue":
            return ok(self.squeue)
        if args[:4] == ["scontrol", "-o", "show", "job"]:
            return ok(self.scontrol_jobs)
        if args[:4] == ["sacctmgr", "-n", "-P", "show"]:
            return ok(self.assoc if args[4] == "assoc" else self.qos)
        return ok("")

    def tool_calls(self, tool: str) -> list[list[str]]:
        return [c for c in self.calls if c[0] == tool]
