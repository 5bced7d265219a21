"""The SLURM executor without a cluster (fake SLURM): dry run, submission, manifest, cancel."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from energybench.errors import ConfigError, SubmitError
from energybench.paths import write_json
from energybench.status import current_states

from ..conftest import eb
from .conftest import DEV_PROFILE, REPO, planned_results, small_demo, write_yaml
from .fakes import FakeSlurm


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
    from energybench.slurm.cancel import cancel_runs

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
    layout, _ = planned_results(tmp_path, write_config)
    r = eb("cancel", str(layout.root))
    assert r.returncode == 1 and "no SLURM jobs recorded" in r.stderr and r.stderr.count("\n") == 1


def test_status_exit_codes_without_a_scheduler(tmp_path: Path, write_config: Any) -> None:
    layout, specs = planned_results(tmp_path, write_config)
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
