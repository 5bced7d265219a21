#!/usr/bin/env python3
"""A plain-PyTorch training script, measured by energybench as a command workload.

It trains a small MLP on generated data (10 Gaussian classes, no downloads) and
uses ``energybench.client`` to tell the worker what it is doing:

* ``epoch_begin(epoch)``, ``phase("train")`` / ``phase("eval")`` and
  ``epoch_end(val_accuracy=..., train_loss=...)``: the run gets one row per
  epoch and every table, like a built-in workload;
* ``should_stop()``: the config's threshold early stopping (and max_epochs)
  decides when it ends;
* a checkpoint (``train_checkpoint.pt``, in the current directory: the run
  directory) after every epoch; a requeued run resumes after
  ``resume_epoch()``, from that checkpoint;
* ``preempted()``: SLURM's USR2 (preemption, time limit) reaches the script;
  it stops at the next batch and exits, the epoch in progress is trained again
  by the next attempt.

Outside energybench every client call is a no-op, and without energybench
installed a stand-in is used, so it also runs on its own::

    python examples/command/train.py --batch-size 64 --lr 0.01 --epochs 5

(run it again in the same folder and it resumes from its checkpoint).
``--no-marks`` leaves the client out entirely: energybench then measures the run
as one row (total-energy tables only).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

CHECKPOINT = "train_checkpoint.pt"
#: The data: samples per split, features, classes, and their seed (the same data for every run).
N_TRAIN, N_VAL, FEATURES, CLASSES, DATA_SEED = 2000, 500, 32, 10, 0


class _NoClient:
    """What ``energybench.client`` answers outside energybench; used when it is not installed (or --no-marks)."""

    def phase(self, name: str) -> None: ...
    def epoch_begin(self, epoch: int | None = None) -> None: ...
    def epoch_end(self, **metrics: Any) -> None: ...
    def should_stop(self) -> bool: return False
    def preempted(self) -> bool: return False
    def on_preempt(self, callback: Any) -> None: ...
    def attempt(self) -> int: return 1
    def resume_epoch(self) -> int: return 0
    def params(self) -> dict[str, Any]: return {}
    def run_dir(self) -> str | None: return None


def get_client(marks: bool) -> Any:
    if not marks:
        return _NoClient()
    try:
        from energybench import client
    except ImportError:
        return _NoClient()
    return client


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--epochs", type=int, default=20, help="the script's own cap (energybench's max_epochs stops it too)")
    p.add_argument("--hidden", type=int, default=64, help="hidden units (a grid.params axis in the example config)")
    p.add_argument("--seed", type=int, default=0, help="model initialisation and batch order")
    p.add_argument("--train-samples", type=int, default=N_TRAIN, help="training samples (longer epochs)")
    p.add_argument("--no-marks", action="store_true", help="do not talk to energybench (one row per run)")
    return p.parse_args(argv)


def make_data(n_train: int = N_TRAIN, seed: int = DATA_SEED) -> tuple[Any, Any]:
    """((x, y), (x, y)): Gaussian classes with overlapping clouds, learnable in a few epochs."""
    import torch

    g = torch.Generator().manual_seed(seed)
    means = torch.randn(CLASSES, FEATURES, generator=g) * 0.45
    n = n_train + N_VAL
    y = torch.randint(0, CLASSES, (n,), generator=g)
    x = means[y] + torch.randn(n, FEATURES, generator=g)
    return (x[N_VAL:], y[N_VAL:]), (x[:N_VAL], y[:N_VAL])  # the validation split never changes


def save_checkpoint(epoch: int, model: Any, opt: Any, gen: Any) -> None:
    """The state after ``epoch``, written atomically (a kill never leaves half a file)."""
    import torch

    tmp = CHECKPOINT + ".tmp"
    torch.save({"epoch": epoch, "model": model.state_dict(), "opt": opt.state_dict(),
                "gen": gen.get_state()}, tmp)
    os.replace(tmp, CHECKPOINT)


def load_checkpoint() -> dict[str, Any] | None:
    import torch

    if not os.path.exists(CHECKPOINT):
        return None
    return torch.load(CHECKPOINT, map_location="cpu", weights_only=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    client = get_client(not args.no_marks)
    import torch
    from torch import nn
    from torch.nn import functional as F

    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    (xt, yt), (xv, yv) = make_data(args.train_samples)
    n_train = len(yt)
    model = nn.Sequential(nn.Linear(FEATURES, args.hidden), nn.ReLU(), nn.Linear(args.hidden, CLASSES))
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)

    # Where to start: under energybench the worker's record decides (epochs it measured already);
    # on its own, the script's checkpoint does. A fresh run ignores a stale checkpoint.
    ckpt = load_checkpoint()
    done = client.resume_epoch() if client.run_dir() is not None else (ckpt["epoch"] if ckpt else 0)
    if done and ckpt is not None:
        if ckpt["epoch"] != done:
            print(f"warning: checkpoint of epoch {ckpt['epoch']}, energybench recorded {done}; "
                  "continuing from the checkpoint's state", file=sys.stderr)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["opt"])
        gen.set_state(ckpt["gen"])
    elif done:
        print(f"warning: epoch {done} was recorded but there is no checkpoint; training on from scratch",
              file=sys.stderr)
    print(f"attempt {client.attempt()}: epochs {done + 1}..{args.epochs}, batch size {args.batch_size}, "
          f"lr {args.lr}, hidden {args.hidden}", flush=True)

    for epoch in range(done + 1, args.epochs + 1):
        t0 = time.perf_counter()
        client.epoch_begin(epoch)  # opens the epoch in phase "train"
        model.train()
        order = torch.randperm(n_train, generator=gen)
        total, batches = 0.0, 0
        for start in range(0, n_train, args.batch_size):
            if client.preempted():  # mid-epoch: the next attempt trains this epoch again from the checkpoint
                print(f"preempted in epoch {epoch}; the checkpoint of epoch {epoch - 1} stays", flush=True)
                return 0
            idx = order[start:start + args.batch_size]
            opt.zero_grad()
            loss = F.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            total, batches = total + loss.item(), batches + 1

        client.phase("eval")
        model.eval()
        with torch.no_grad():
            logits = model(xv)
            val_loss = float(F.cross_entropy(logits, yv))
            val_acc = float((logits.argmax(1) == yv).float().mean())
        client.epoch_end(val_accuracy=val_acc, val_loss=val_loss, train_loss=total / max(batches, 1))
        save_checkpoint(epoch, model, opt, gen)  # after epoch_end: not part of the epoch's energy
        print(f"epoch {epoch}: train_loss {total / max(batches, 1):.4f} val_loss {val_loss:.4f} "
              f"val_accuracy {val_acc:.4f} ({time.perf_counter() - t0:.2f} s)", flush=True)
        if client.preempted():
            print(f"preempted after epoch {epoch}; checkpoint saved", flush=True)
            return 0
        if client.should_stop():
            print(f"energybench says stop after epoch {epoch}", flush=True)
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
