"""The SLURM executor without a cluster: profile, arrays, accounting, status join, dry run, submission.

A fake SLURM (``energybench.slurm.shell.RUNNER`` replaced) answers sbatch, sacct,
squeue, sinfo, scontrol and scancel, so the whole submission path runs here;
tests/slurm/test_executor_cluster.py runs it against the real dev cluster.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from energybench.config import parse_config
from energybench.errors import ConfigError, SubmitError
from energybench.paths import ResultsLayout, write_json
from energybench.plan import plan
from energybench.slurm import accounting, arrays, cluster, shell
from energybench.slurm.manifest import Manifest
from energybench.slurm.profile import load_profile, parse_profile
from energybench.status import current_states, run_states

from .conftest import DEV_PROFILE, REPO, small_demo, write_yaml

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
        self.max_array_size = max_array_size

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
        return ok("")

    def tool_calls(self, tool: str) -> list[list[str]]:
        return [c for c in self.calls if c[0] == tool]


@pytest.fixture
def fake_slurm(monkeypatch: pytest.MonkeyPatch) -> FakeSlurm:
    fake = FakeSlurm()
    monkeypatch.setattr(shell, "RUNNER", fake)
    return fake


def eb(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from energybench.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=timeout)


# ----------------------------------------------------------------------------- profile


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


# ----------------------------------------------------------------------------- cluster checks


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


# ----------------------------------------------------------------------------- arrays


def _paper_specs() -> list[Any]:
    from energybench.config import load_config

    return plan(load_config(REPO / "configs" / "paper.yaml"))


def test_arrays_per_hardware_and_paradigm_with_aligned_aftercorr() -> None:
    specs = _paper_specs()
    by_id = {s.run_id: s for s in specs}
    arrs = arrays.group_arrays(specs, 1001)
    assert len(arrs) == 21 and sum(len(a.run_ids) for a in arrs) == 672
    names = [a.name for a in arrs]
    for a in arrs:
        if a.paradigm in ("pamap2-frozen", "pamap2-unfrozen"):
            assert a.dependency.kind == "aftercorr"
            enc = next(x for x in arrs if x.name == a.dependency.targets[0][0][1:])
            assert names.index(enc.name) < names.index(a.name)  # encoders are submitted first
            assert enc.paradigm == "pamap2-autoencoder" and enc.hardware == a.hardware
            assert [by_id[r].depends_on for r in a.run_ids] == list(enc.run_ids)  # index i <-> index i
        else:
            assert a.dependency is None


def test_arrays_split_at_max_array_size_and_stay_aligned() -> None:
    specs = [s for s in _paper_specs() if s.hardware == "h100" and s.paradigm.startswith("pamap2-")
             and s.paradigm != "pamap2-baseline"]
    by_id = {s.run_id: s for s in specs}
    arrs = arrays.group_arrays(specs, 10)  # 32 encoders -> 10 + 10 + 10 + 2
    enc = [a for a in arrs if a.paradigm == "pamap2-autoencoder"]
    assert [len(a.run_ids) for a in enc] == [10, 10, 10, 2]
    for a in arrs:
        if a.dependency:
            target = next(x for x in enc if f"@{x.name}" == a.dependency.targets[0][0])
            assert [by_id[r].depends_on for r in a.run_ids] == list(target.run_ids)


def test_partial_resubmission_and_queued_encoders() -> None:
    specs = [s for s in _paper_specs() if s.hardware == "a100" and s.paradigm in
             ("pamap2-autoencoder", "pamap2-frozen")][:48]
    enc = [s for s in specs if s.paradigm == "pamap2-autoencoder"]
    frozen = {s.depends_on: s for s in specs if s.paradigm == "pamap2-frozen"}
    # encoders 1 and 3 failed with their frozen runs; frozen of encoder 5 failed alone (encoder completed)
    todo = [enc[1], enc[3], frozen[enc[1].run_id], frozen[enc[3].run_id], frozen[enc[5].run_id]]
    arrs = arrays.group_arrays(todo, 1001)
    assert [(a.paradigm, len(a.run_ids), a.dependency.kind if a.dependency else None) for a in arrs] == [
        ("pamap2-autoencoder", 2, None), ("pamap2-frozen", 1, None), ("pamap2-frozen", 2, "aftercorr")]
    # the encoder of a resubmitted frozen run is still queued from an earlier submission at index 7
    todo = [frozen[enc[7].run_id], frozen[enc[0].run_id]]
    arrs = arrays.group_arrays(todo, 1001, {enc[7].run_id: ("555", 7), enc[0].run_id: ("555", 0)})
    deps = sorted(a.dependency.render(str) for a in arrs)
    assert deps == ["aftercorr:555", "afterok:555_7"]


# ----------------------------------------------------------------------------- accounting


def test_sacct_and_squeue_parsing() -> None:
    jobs = accounting.parse_sacct(
        "18_0|COMPLETED|0:0|h100|None|2026-01-01T10:00:00|2026-01-01T10:00:03\n"
        "18_[1-3%1]|PENDING|0:0|h100|JobArrayTaskLimit|Unknown|Unknown\n"
        "19_2|CANCELLED by 0|0:15|a100|None|2026-01-01T10:00:00|2026-01-01T10:00:05\n")
    assert set(jobs) == {"18_0", "18_1", "18_2", "18_3", "19_2"}
    assert jobs["18_2"].state == "PENDING" and jobs["18_2"].reason == "JobArrayTaskLimit"
    assert jobs["19_2"].state == "CANCELLED" and jobs["19_2"].exit_code == "0:15"
    q = accounting.parse_squeue("20_[0-1]|PENDING|Dependency|h100\n21_4|RUNNING|None|a100\n")
    assert q["20_1"].reason == "Dependency" and q["21_4"].state == "RUNNING"


def test_scheduler_view_falls_back_to_squeue_and_caches(fake_slurm: FakeSlurm, tmp_path: Path) -> None:
    fake_slurm.sacct_error = "sacct: error: Slurm accounting storage is disabled"
    fake_slurm.squeue = "7_0|RUNNING|None|h100\n"
    cache = tmp_path / "scheduler.json"
    view = accounting.scheduler_view(["7"], cache, max_age_s=30)
    assert view.source == "squeue" and view.get("7_0").state == "RUNNING"
    n = len(fake_slurm.calls)
    assert accounting.scheduler_view(["7"], cache, max_age_s=30).get("7_0").state == "RUNNING"
    assert len(fake_slurm.calls) == n  # answered from the cache: one query per interval
    accounting.scheduler_view(["7"], cache, max_age_s=0)
    assert len(fake_slurm.calls) > n


def test_missing_slurm_tool_is_one_actionable_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(args: Sequence[str], timeout_s: float, stdin: str | None) -> shell.Result:
        raise FileNotFoundError(args[0])

    monkeypatch.setattr(shell, "RUNNER", missing)
    with pytest.raises(SubmitError, match="sbatch: not found on PATH; run this on a SLURM login node"):
        shell.slurm(["sbatch", "x.sh"])
    with pytest.raises(ValueError):
        shell.slurm(["rm", "-rf", "/"])


# ----------------------------------------------------------------------------- status join


def _results(tmp_path: Path, write_config: Any) -> tuple[ResultsLayout, list[Any]]:
    from energybench.submit import prepare, write_layout

    cfg = small_demo(tmp_path, paradigms=["pamap2-baseline"], hardware=["h100"])
    cfg["grid"] = {"batch_sizes": [64, 256], "learning_rates": [0.01, 0.001]}
    config = write_config(cfg)
    p = prepare(config, tmp_path / "res", None)
    write_layout(p, config)
    return p.layout, p.specs


def test_status_joins_markers_with_the_scheduler(tmp_path: Path, write_config: Any) -> None:
    layout, specs = _results(tmp_path, write_config)
    a, b, c, d = (s.run_id for s in specs)
    now = time.time()
    m = Manifest.load(layout.manifest)
    m.record_array("40", "h100.pamap2-baseline.0", "h100", [a, b, c, d], {}, None, now_s=now - 3600)
    write_json(layout.run(a).started, {"attempt": 1, "time_s": now - 100})
    write_json(layout.run(a).heartbeat, {"time_s": now - 5, "epoch": 2, "val_accuracy": 0.5})
    write_json(layout.run(b).failed, {"reason": "old failure", "time_s": now - 7200})  # before submission
    write_json(layout.run(c).started, {"attempt": 1, "time_s": now - 50})
    write_json(layout.run(c).failed, {"reason": "CUDA out of memory", "time_s": now - 40})
    view = accounting.SchedulerView("sacct", now, ("40",), accounting.parse_sacct(
        "40_0|RUNNING|0:0|h100|None|x|Unknown\n40_1|PENDING|0:0|h100|Dependency|Unknown|Unknown\n"
        "40_2|FAILED|1:0|h100|None|x|y\n"))
    st = {s.run_id: s for s in run_states(layout, now=now, view=view)}
    assert (st[a].state, st[a].epoch, st[a].job_id) == ("RUNNING", 2, "40_0")
    assert st[b].state == "PENDING" and "Dependency" in st[b].reason  # the old failure is stale
    assert (st[c].state, st[c].reason) == ("FAILED", "CUDA out of memory")  # the worker's reason wins
    assert st[d].state == "LOST" and "no record" in st[d].reason  # submitted an hour ago, unknown to SLURM
    # squeue answered too: a task in no record left the queue unstarted (SLURM keeps no record of it)
    view_q = accounting.SchedulerView("sacct+squeue", now, ("40",), dict(view.jobs), queue_complete=True)
    st = {s.run_id: s for s in run_states(layout, now=now, view=view_q)}
    assert st[d].state == "CANCELLED" and "before it started" in st[d].reason
    view2 = accounting.SchedulerView("sacct", now, ("40",), accounting.parse_sacct(
        "40_0|CANCELLED by 0|0:0|h100|None|x|y\n40_3|TIMEOUT|0:0|h100|None|x|y\n"))
    st = {s.run_id: s for s in run_states(layout, now=now, view=view2)}
    assert st[a].state == "CANCELLED" and "40_0" in st[a].reason
    assert st[d].state == "TIMEOUT"
    write_json(layout.run(a).done, {"attempt": 1})
    assert run_states(layout, now=now, view=view2)[0].state == "COMPLETED"  # done.json always wins


# ----------------------------------------------------------------------------- dry run and scale


def test_paper_dry_run_is_fast_writes_one_script_per_array_and_needs_nothing(tmp_path: Path) -> None:
    results = tmp_path / "paper"
    t0 = time.perf_counter()
    r = eb("submit", str(REPO / "configs" / "paper.yaml"), "--results", str(results), "--dry-run")
    wall_s = time.perf_counter() - t0
    assert r.returncode == 0, r.stdout + r.stderr
    assert wall_s < 5.0, f"dry run of 672 runs took {wall_s:.1f} s"
    scripts = sorted((results / "jobs" / "dry-run").glob("*.sbatch"))
    assert len(scripts) == 21  # 3 hardware x 7 paradigms, not 672
    index = json.loads((results / "jobs" / "dry-run" / "arrays.json").read_text())
    assert sum(len(a["run_ids"]) for a in index["arrays"]) == 672
    assert not (results / "plan.json").exists() and not (results / "jobs" / "submitit").exists()
    text = (results / "jobs" / "dry-run" / "rtx3090.pamap2-unfrozen.0.sbatch").read_text()
    assert "#SBATCH --array=0-31%16" in text and "#SBATCH --time=480" in text
    assert "#SBATCH --dependency='aftercorr:<rtx3090.pamap2-autoencoder.0>'" in text


def test_dry_run_scripts_carry_the_profile(tmp_path: Path, write_config: Any) -> None:
    results = tmp_path / "res"
    r = eb("submit", str(write_config(small_demo(tmp_path))), "--results", str(results), "--dry-run")
    assert r.returncode == 0, r.stdout + r.stderr
    d = results / "jobs" / "dry-run"
    assert len(list(d.glob("*.sbatch"))) == 12
    text = (d / "a100.pamap2-frozen.0.sbatch").read_text()
    for line in ("#SBATCH --partition=a100", "#SBATCH --gres=gpu:1", "#SBATCH --time=10",
                 "#SBATCH --cpus-per-task=1", "#SBATCH --array=0-0%1", "#SBATCH --requeue",
                 "#SBATCH --kill-on-invalid-dep=yes", "#SBATCH --job-name=eb-demo-a100-pamap2-frozen",
                 "#SBATCH --dependency='aftercorr:<a100.pamap2-autoencoder.0>'",
                 "export OMP_NUM_THREADS=1", 'echo "energybench task'):
        assert line in text, (line, text)
    # exactly one signal directive, ours (B: -> the batch shell, which execs the Python worker)
    assert [ln for ln in text.splitlines() if "--signal" in ln] == ["#SBATCH --signal=B:USR2@30"]
    assert "\nexec " in text and "submitit.core._submit" in text and "srun" not in text
    assert not (results / "plan.json").exists()


def test_dry_run_only_for_slurm(tmp_path: Path, write_config: Any) -> None:
    cfg = small_demo(tmp_path)
    cfg["executor"] = {"kind": "local"}
    r = eb("submit", str(write_config(cfg)), "--results", str(tmp_path / "r"), "--dry-run")
    assert r.returncode == 1 and "--executor slurm" in r.stderr


# ----------------------------------------------------------------------------- submission (fake sbatch)


def _submit(config: Path, results: Path, **kw: Any) -> Any:
    from energybench.submit import submit

    lines: list[str] = []
    p = submit(config, results, echo=lines.append, **kw)
    return p, lines


def test_submission_manifest_dependencies_and_idempotence(fake_slurm: FakeSlurm, tmp_path: Path,
                                                          write_config: Any) -> None:
    cfg = small_demo(tmp_path, paradigms=["pamap2-baseline", "pamap2-autoencoder", "pamap2-frozen"])
    cfg["grid"] = {"batch_sizes": [64, 256], "learning_rates": [0.01]}
    config = write_config(cfg)
    results = tmp_path / "res"
    p, lines = _submit(config, results)
    layout = p.layout
    sb = fake_slurm.tool_calls("sbatch")
    assert len(sb) == 9  # 3 hardware x 3 paradigms, one sbatch per array
    sub = layout.submitit_dir
    assert stat.S_IMODE(sub.stat().st_mode) == 0o700  # its pickles execute code
    man = json.loads(layout.manifest.read_text())
    assert set(man["runs"]) == {s.run_id for s in p.specs}
    for s in p.specs:
        e = man["runs"][s.run_id]
        assert e["job_id"] == f"{e['array_job_id']}_{e['array_index']}" and e["attempt"] == 1
        assert e["partition"] == s.hardware and e["submit_time"].endswith("Z")
        assert (sub / f"{e['job_id']}_submitted.pkl").exists()
    # the frozen arrays wait for the real job id of their own encoder array, index for index
    enc_job = {s.hardware: man["runs"][s.run_id]["array_job_id"] for s in p.specs
               if s.paradigm == "pamap2-autoencoder"}
    for s in p.specs:
        if s.paradigm == "pamap2-frozen":
            job = man["runs"][s.run_id]["array_job_id"]
            script = fake_slurm.scripts[job]
            assert f"#SBATCH --dependency=aftercorr:{enc_job[s.hardware]}" in script
            assert man["runs"][s.run_id]["array_index"] == man["runs"][s.depends_on]["array_index"]
    assert all("#SBATCH --signal=B:USR2@30" in t for t in fake_slurm.scripts.values())

    # everything queued: submitting again submits nothing
    fake_slurm.sacct = "".join(f"{j}|PENDING|0:0|h|None|Unknown|Unknown\n"
                               for j in {e["job_id"] for e in man["runs"].values()})
    _, lines = _submit(config, results)
    assert len(fake_slurm.tool_calls("sbatch")) == 9 and "0 to submit" in lines[0]

    # two cancelled, one failed, one completed, the rest running -> exactly the three are resubmitted
    ids = [s.run_id for s in p.specs]
    jid = {r: man["runs"][r]["job_id"] for r in ids}
    rows = {jid[r]: "RUNNING" for r in ids}
    rows[jid[ids[0]]] = rows[jid[ids[1]]] = "CANCELLED"
    rows[jid[ids[2]]] = "FAILED"
    rows[jid[ids[3]]] = "COMPLETED"
    write_json(layout.run(ids[3]).started, {"attempt": 1, "time_s": time.time()})
    write_json(layout.run(ids[3]).done, {"attempt": 1})
    fake_slurm.sacct = "".join(f"{j}|{st}|0:0|h|None|x|y\n" for j, st in rows.items())
    _, lines = _submit(config, results)
    assert "3 to submit" in lines[0]
    man2 = json.loads(layout.manifest.read_text())
    changed = {r for r in ids if man2["runs"][r]["job_id"] != jid[r]}
    assert changed == {ids[0], ids[1], ids[2]}
    assert man2["runs"][ids[0]]["history"][0]["job_id"] == jid[ids[0]]

    # cancel: one scancel for the queued and running ones
    fake_slurm.calls.clear()
    from energybench.executors.slurm import cancel_runs

    n, jobs = cancel_runs(layout, [ids[4][:8]])
    assert n == 1 and jobs == [jid[ids[4]]] and fake_slurm.tool_calls("scancel") == [["scancel", jid[ids[4]]]]
    with pytest.raises(SubmitError, match="--run zzz: matches no planned run"):
        cancel_runs(layout, ["zzz"])

    # --force refuses while runs are still queued or running
    with pytest.raises(SubmitError, match="cancel them first: energybench cancel"):
        _submit(config, results, force=True)

    # a different config into this directory is refused, and says what to do
    cfg["grid"]["batch_sizes"] = [32]
    with pytest.raises(Exception, match="made by another config.*new --results directory"):
        _submit(write_config(cfg, "other.yaml"), results)


def test_cluster_checks_run_before_anything_is_written(fake_slurm: FakeSlurm, tmp_path: Path,
                                                       write_config: Any) -> None:
    cfg = small_demo(tmp_path)
    cfg["executor"]["timeout_min"] = 90  # devcluster profile says 10; a profile without a limit:
    prof = yaml.safe_load(DEV_PROFILE.read_text())
    del prof["defaults"]["time_limit_min"]
    cfg["executor"]["profile"] = str(write_yaml(tmp_path / "prof.yaml", prof))
    with pytest.raises(ConfigError, match="exceeds partition 'h100'.s MaxTime of 60 min"):
        _submit(write_config(cfg), tmp_path / "res")
    assert not (tmp_path / "res").exists() and not fake_slurm.tool_calls("sbatch")


def test_cancel_without_slurm_jobs_is_one_line(tmp_path: Path, write_config: Any) -> None:
    layout, _ = _results(tmp_path, write_config)
    r = eb("cancel", str(layout.root))
    assert r.returncode == 1 and "no SLURM jobs recorded" in r.stderr and r.stderr.count("\n") == 1


def test_status_exit_codes_without_a_scheduler(tmp_path: Path, write_config: Any) -> None:
    layout, specs = _results(tmp_path, write_config)
    assert eb("status", str(layout.root)).returncode == 3  # pending
    for s in specs:
        write_json(layout.run(s.run_id).failed, {"reason": "x", "time_s": time.time()})
    assert eb("status", str(layout.root)).returncode == 1  # finished, not all completed
    for s in specs:
        write_json(layout.run(s.run_id).started, {"attempt": 1, "time_s": time.time()})
        write_json(layout.run(s.run_id).done, {"attempt": 1})
    r = eb("status", str(layout.root), "--watch", "5")
    assert r.returncode == 0 and "COMPLETED" in r.stdout
    states, note = current_states(layout)
    assert note is None and all(s.state == "COMPLETED" for s in states)


# ----------------------------------------------------------------------------- the job on the node


def test_job_requeues_on_request_and_stops_after_max_attempts(monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    from energybench.paths import RunPaths
    from energybench.slurm import job as job_mod
    from energybench.worker import entry

    run = RunPaths(tmp_path / "run")
    write_json(run.started, {"attempt": 2, "time_s": time.time()})
    monkeypatch.setattr(entry, "main", lambda d: entry.REQUEUE)
    requeued = []
    monkeypatch.setattr(job_mod, "requeue", lambda: requeued.append(1))
    with pytest.raises(SystemExit):
        job_mod.RunJob(max_attempts=3)(str(run.dir))
    assert requeued == [1] and not run.failed.exists()
    with pytest.raises(RuntimeError, match="out of attempts"):
        job_mod.RunJob(max_attempts=2)(str(run.dir))
    f = json.loads(run.failed.read_text())
    assert f["state"] == "TIMEOUT" and "max_attempts" in f["reason"]
    monkeypatch.setattr(entry, "main", lambda d: 1)
    with pytest.raises(RuntimeError, match="failed"):  # a failed run fails its job (aftercorr must not fire)
        job_mod.RunJob()(str(run.dir))


def test_epoch_loop_stops_at_the_last_checkpoint_on_request(tmp_path: Path) -> None:
    """USR2 mid-epoch: the epoch in progress is dropped, the checkpoint is the previous epoch's end."""
    import signal

    import pyarrow.parquet as pq
    import torch

    from energybench.paths import RunPaths
    from energybench.worker import entry
    from energybench.worker.checkpoint import load_checkpoint
    from energybench.worker.train import run_epochs

    class Task:
        monitor = "val_accuracy"
        model = torch.nn.Linear(2, 2)
        example_input = torch.zeros(1, 2)

        def __init__(self) -> None:
            self.epochs = 0

        def parameters_to_train(self) -> list[Any]:
            return list(self.model.parameters())

        def set_train_mode(self) -> None:
            self.epochs += 1

        def train_batches(self, bs: int, gen: Any) -> Any:
            for i in range(3):
                if self.epochs == 2 and i == 1:
                    signal.raise_signal(signal.SIGUSR2)  # SLURM's signal, in the middle of epoch 2
                yield torch.randn(4, 2), torch.zeros(4, dtype=torch.long)

        def loss(self, x: Any, y: Any) -> Any:
            return torch.nn.functional.cross_entropy(self.model(x), y)

        def evaluate(self, bs: int) -> tuple[float, float]:
            return 1.0, 0.5

    class Sampler:
        def begin(self, epoch: int, phase: str) -> None: ...

        def stats(self, epoch: int) -> None:
            return None

    cfg = small_demo(tmp_path, paradigms=["pamap2-baseline"], hardware=["h100"])
    cfg["early_stopping"] = {"threshold": 0.99, "max_epochs": 5}
    spec = plan(parse_config(cfg, tmp_path / "c.yaml"))[0]
    run = RunPaths(tmp_path / "run")
    old = signal.getsignal(signal.SIGUSR2)
    entry.STOP.clear()
    try:
        entry.stop_on_signal(signal.SIGUSR2)
        with pytest.raises(entry.Interrupted) as exc:
            run_epochs(spec, run, 1, Task(), Sampler(), torch.device("cpu"), None, lambda **k: None,
                       stop_requested=entry.STOP)
    finally:
        signal.signal(signal.SIGUSR2, old)
        entry.STOP.clear()
    assert exc.value.epoch == 1
    assert [r["epoch"] for r in pq.read_table(run.epochs(1)).to_pylist()] == [1]
    assert load_checkpoint(run.checkpoint)["epoch"] == 1
