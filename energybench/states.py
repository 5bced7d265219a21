"""The states of a run: one closed set, used by the worker's markers, status, the executors and collect.

A ``StrEnum``: each member *is* its name as a string, so it is written to
JSON and Parquet as ``"COMPLETED"`` and compares equal to that string.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """What is known about one planned run."""

    PENDING = "PENDING"  # not started (queued, or waiting for its encoder)
    RUNNING = "RUNNING"  # started, heartbeat fresh (or the scheduler says it runs)
    COMPLETED = "COMPLETED"  # the worker wrote done.json
    FAILED = "FAILED"  # the worker (or the executor for it) wrote why
    CANCELLED = "CANCELLED"  # cancelled by the user or the scheduler
    TIMEOUT = "TIMEOUT"  # ran past its time limit or out of attempts
    LOST = "LOST"  # no heartbeat and no scheduler record, or its node failed


#: In the order status tables show them.
ORDER: tuple[State, ...] = tuple(State)
#: No longer pending or running.
FINISHED: frozenset[State] = frozenset(ORDER) - {State.PENDING, State.RUNNING}
#: Finished without completing: listed one by one under the status table.
PROBLEMS: tuple[State, ...] = (State.FAILED, State.LOST, State.TIMEOUT, State.CANCELLED)
