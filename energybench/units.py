"""Unit conversions shared by every module, so no two spell the same factor.

Each name reads "<unit> per <unit>": divide joules by ``J_PER_WH`` for
watt-hours, multiply minutes by ``S_PER_MIN`` for seconds. Memory sizes are
binary (SLURM's ``--mem=4G`` is 4096 MiB, NVML reports bytes).
"""

from __future__ import annotations

J_PER_WH = 3600.0  # joules in one watt-hour
J_PER_MWH = 3.6  # joules in one milliwatt-hour

S_PER_MIN = 60  # seconds in one minute

BYTES_PER_KIB = 1024
BYTES_PER_MIB = 1024**2
BYTES_PER_GIB = 1024**3
MIB_PER_GIB = 1024  # SLURM memory: "G" and "M" suffixes, and sinfo's MB (which are MiB)
