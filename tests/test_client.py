"""energybench.client: stdlib only, a no-op outside energybench, its messages, its preemption handler."""

from __future__ import annotations

import ast
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from energybench import client

CLIENT = Path(client.__file__)


def test_imports_only_the_standard_library() -> None:
    tree = ast.parse(CLIENT.read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree)
                 if isinstance(n, ast.ImportFrom) and n.module and not n.level}
    assert not any(isinstance(n, ast.ImportFrom) and n.level for n in ast.walk(tree))
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported
    # A copy of the one file loads in an interpreter without site-packages.
    load = ("import importlib.util as u, sys; s = u.spec_from_file_location('eb_client', sys.argv[1]); "
            "m = u.module_from_spec(s); s.loader.exec_module(m); assert m.should_stop() is False")
    r = subprocess.run([sys.executable, "-I", "-S", "-c", load, str(CLIENT)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr


def test_outside_energybench_every_call_is_a_no_op() -> None:
    assert os.environ.get(client.ENV_FD) is None
    assert not client.connected()
    client.phase("train")
    client.epoch_begin(3)
    client.epoch_end(val_accuracy=object())  # not even checked: nothing is sent
    assert client.should_stop() is False and client.preempted() is False
    assert (client.params(), client.attempt(), client.resume_epoch(), client.run_dir()) == ({}, 1, 0, None)
    assert signal.getsignal(signal.SIGUSR2) is not client._on_signal  # no handler installed


def test_messages_are_json_lines() -> None:
    class Scalar:  # a numpy scalar or a 0-d tensor
        def __float__(self) -> float:
            return 0.25

    msg = client.metrics_message({"val_accuracy": Scalar(), "train_loss": 1, "val_loss": float("nan"), "x": None})
    line = client.encode(msg)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    back = json.loads(line)
    assert back["op"] == "epoch_end" and back["metrics"]["val_accuracy"] == 0.25
    assert back["metrics"]["train_loss"] == 1.0 and back["metrics"]["x"] is None
    assert back["metrics"]["val_loss"] != back["metrics"]["val_loss"]  # NaN survives
    for bad in ("0.9", True, [1]):
        with pytest.raises(TypeError, match="not a number"):
            client.metrics_message({"val_accuracy": bad})


PROGRAM = textwrap.dedent("""
    import json, os, signal, sys
    seen = []
    signal.signal(signal.SIGUSR2, lambda s, f: seen.append("previous"))  # chained, not replaced
    from energybench import client
    assert client.connected() and client.attempt() == 2 and client.resume_epoch() == 4
    assert client.params() == {"batch_size": 64}
    client.on_preempt(lambda: seen.append("callback"))
    client.epoch_begin()
    client.phase("eval")
    if os.fork() == 0:  # a forked child (a data-loader worker) reports nothing
        client.epoch_end(val_accuracy=0.1)
        os._exit(0 if client.should_stop() is False else 1)
    assert os.wait()[1] == 0
    client.epoch_end(val_accuracy=0.75, train_loss=0.5)
    first, second = client.should_stop(), client.should_stop()
    assert not client.preempted()
    os.kill(os.getpid(), signal.SIGUSR2)
    os.kill(os.getpid(), signal.SIGUSR2)
    late = []
    client.on_preempt(lambda: late.append(1))  # already preempted: called at once
    print(json.dumps({"stop": [first, second], "preempted": client.preempted(), "seen": seen, "late": late}))
""")


def test_a_connected_client_reports_asks_and_catches_preemption(tmp_path: Path) -> None:
    worker, child = socket.socketpair()
    env = {**os.environ, client.ENV_FD: str(child.fileno()), client.ENV_ID: client.socket_id(child.fileno()),
           client.ENV_ATTEMPT: "2",
           client.ENV_RESUME_EPOCH: "4", client.ENV_PARAMS: json.dumps({"batch_size": 64}),
           client.ENV_RUN_DIR: str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-c", PROGRAM], env=env, pass_fds=(child.fileno(),),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    child.close()
    received, answers = [], 0
    with worker.makefile("rb") as lines:
        for line in lines:
            msg = json.loads(line)
            received.append(msg)
            if msg["op"] == "should_stop":
                answers += 1
                worker.sendall(client.encode({"id": msg["id"], "stop": answers == 2, "reason": None}))
    out, err = proc.communicate(timeout=30)
    worker.close()
    assert proc.returncode == 0, err
    assert [m["op"] for m in received] == ["hello", "epoch_begin", "phase", "epoch_end", "should_stop",
                                           "should_stop"]
    assert received[0]["pid"] == proc.pid and received[0]["protocol"] == client.PROTOCOL
    assert received[1]["epoch"] is None and received[2]["name"] == "eval"
    assert received[3]["metrics"] == {"val_accuracy": 0.75, "train_loss": 0.5}
    assert json.loads(out) == {"stop": [False, True], "preempted": True,
                               "seen": ["callback", "previous", "previous"], "late": [1]}


def test_a_client_whose_worker_is_gone_falls_back_to_no_ops(tmp_path: Path) -> None:
    worker, child = socket.socketpair()
    worker.close()
    env = {**os.environ, client.ENV_FD: str(child.fileno())}
    code = ("from energybench import client\n"
            "client.epoch_end(val_accuracy=0.5)\n"
            "assert client.should_stop() is False and not client.connected()\n")
    r = subprocess.run([sys.executable, "-c", code], env=env, pass_fds=(child.fileno(),),
                       capture_output=True, text=True, timeout=30)
    child.close()
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("lost the connection to the worker") == 1


def test_a_variable_without_its_socket_is_ignored(tmp_path: Path) -> None:
    """A grandchild started with close_fds inherits the variables, not the descriptor: whatever has
    that number there is not written to."""
    other = tmp_path / "other"
    code = ("import os, sys\n"
            "fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT)\n"
            "os.environ['ENERGYBENCH_CLIENT_FD'] = str(fd)\n"
            "from energybench import client\n"
            "client.epoch_end(val_accuracy=0.5)\n"
            "assert not client.connected() and client.should_stop() is False\n")
    r = subprocess.run([sys.executable, "-c", code, str(other)], capture_output=True, text=True, timeout=30,
                       env={**os.environ, client.ENV_ID: "1:2"})
    assert r.returncode == 0, r.stderr
    assert other.read_bytes() == b"" and r.stderr == ""
