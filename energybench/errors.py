"""One exception tree for every mistake a user can act on.

The CLI turns any :class:`EnergybenchError` into one line on stderr and a
non-zero exit; everything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class EnergybenchError(Exception):
    """Base of every error whose message a user can act on."""

    exit_code: int = 1


class ConfigError(EnergybenchError):
    """The experiment config (or a cluster profile) is invalid."""

    exit_code = 2


class ArgumentError(EnergybenchError):
    """A command-line path is missing or of the wrong kind (a file where a directory belongs, or the reverse)."""

    exit_code = 2


class DataError(EnergybenchError):
    """A dataset is missing or not in the expected upstream format."""


class MeterError(EnergybenchError):
    """A power/energy meter could not be opened or read."""


class ResultsError(EnergybenchError):
    """The results directory is missing, foreign, or not writable."""


class DiskFullError(ResultsError):
    """A write into the results directory ran out of space (or quota); the file was left as it was."""


class SubmitError(EnergybenchError):
    """Jobs could not be submitted or tracked."""


class WorkerError(EnergybenchError):
    """A training run failed for a reason the user can fix."""


class EstimateError(EnergybenchError):
    """An energy estimate cannot be made: too few runs, an unknown GPU, a bad model file."""
