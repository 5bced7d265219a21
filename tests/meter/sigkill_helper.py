"""Runs a sampler feeding a SampleShardWriter until killed (for test_sampler's SIGKILL test).

Usage: python sigkill_helper.py RUN_DIR PERIOD_S FLUSH_S
Prints "ready" once sampling has started, then sleeps (training stand-in).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from energybench.meter.sampler import Sampler
from energybench.meter.synthetic import SyntheticMeter
from energybench.paths import RunPaths
from energybench.shards import SampleShardWriter


def main(run_dir: str, period_s: str, flush_s: str) -> None:
    writer = SampleShardWriter(RunPaths(Path(run_dir)), attempt=1)
    sampler = Sampler(SyntheticMeter(), run_id="killed", attempt=1, period_s=float(period_s),
                      flush_s=float(flush_s), sink=writer.write)
    sampler.start()
    sampler.begin(1, "train")
    print("ready", flush=True)
    while True:
        time.sleep(1.0)


if __name__ == "__main__":
    main(*sys.argv[1:4])
