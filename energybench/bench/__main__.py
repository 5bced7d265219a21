"""``python -m energybench.bench [NAME ...]``: run the benchmarks (all by default)."""

from __future__ import annotations

import importlib
import sys
import time

BENCHMARKS = {
    "sampler": "energybench.bench.sampler_overhead",
    "worker": "energybench.bench.worker_overhead",
    "collect": "energybench.bench.collect_bench",
    "loader": "energybench.bench.loader_bench",
    "meters": "energybench.bench.meter_cost",
    "search": "energybench.search.evaluate",
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"energybench bench: unknown benchmark {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}",
              file=sys.stderr)
        return 2
    for name in names:
        t0 = time.perf_counter()
        print(f"== {name} ==", flush=True)
        importlib.import_module(BENCHMARKS[name]).main()
        print(f"({name}: {time.perf_counter() - t0:.0f} s)\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
