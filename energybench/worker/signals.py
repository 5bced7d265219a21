"""Stopping on request: SLURM's USR2 before preemption or the time limit.

:func:`stop_on_signal` makes the signal only set :data:`STOP`; the epoch loop
looks at it between steps and raises :class:`Interrupted` at the last
checkpoint (the end of the previous epoch); the worker's ``main`` then
returns :data:`REQUEUE` so the job can be requeued, and the next attempt
resumes from that checkpoint and trains the interrupted epoch again, so each
epoch is measured once.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

#: Set by :func:`stop_on_signal`'s handler; the epoch loop polls it between steps.
STOP = threading.Event()
#: The worker's return code for "stopped at a checkpoint on request; requeue me".
REQUEUE = 3


class Interrupted(Exception):
    """The epoch loop stopped because :data:`STOP` was set; ``epoch`` is the last checkpointed epoch."""

    def __init__(self, epoch: int) -> None:
        super().__init__(f"stopped on request after epoch {epoch}")
        self.epoch = epoch


def stop_on_signal(signum: int = signal.SIGUSR2) -> None:
    """Make ``signum`` request a stop at the next safe point instead of interrupting anything."""

    def _handler(num: int, frame: Any) -> None:
        STOP.set()

    signal.signal(signum, _handler)
