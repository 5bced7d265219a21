"""A node hold (``$STATE/held/<node>``, lib.sh's ``held``) lasts while its holder lives and no longer.

A test that kills a node on purpose holds it down so that up.sh leaves it dead. A hold left by a
test session that was itself killed (a CI job stopped, a machine restarted) must not keep the
node down for the next session: it is void once its holder is gone. No cluster needed: bash only.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from ..conftest import DEVCLUSTER, hold_node, proc_start

NODE = "eb-n9"


def _held(state: Path) -> bool:
    script = f'OWNED=/nonexistent; STATE="$1"; source "{DEVCLUSTER / "lib.sh"}"; held "$2"'
    return subprocess.run(["bash", "-c", script, "bash", str(state), NODE], timeout=30).returncode == 0


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_hold_by_a_live_holder_holds_until_its_second(tmp_path: Path) -> None:
    hold = hold_node(NODE, for_s=600, state=tmp_path)
    assert hold == tmp_path / "held" / NODE and _held(tmp_path) and hold.exists()
    hold.write_text(f"{int(time.time()) - 1} {os.getpid()} {proc_start()}\n")
    assert not _held(tmp_path) and not hold.exists()  # expired: void, and removed


@pytest.mark.parametrize("content", ["{until} {dead} {start}", "{until} {me} 1", "{until}", "", "x y z"],
                         ids=["holder-dead", "pid-reused", "no-holder", "empty", "garbage"])
def test_a_hold_without_its_live_holder_is_void_and_removed(tmp_path: Path, content: str) -> None:
    hold = tmp_path / "held" / NODE
    hold.parent.mkdir()
    hold.write_text(content.format(until=int(time.time()) + 600, dead=_dead_pid(), me=os.getpid(),
                                   start=proc_start()) + "\n")
    assert not _held(tmp_path) and not hold.exists()


def test_no_hold_file_is_no_hold(tmp_path: Path) -> None:
    assert not _held(tmp_path)
