"""``python -m energybench.validate [--fake] [--out DIR]``: validate this machine's GPU (``make validate-gpu``).

Without a GPU it says so in one line and exits 0, having measured nothing; ``--fake`` runs
the whole validation against a simulated GPU behind a patched NVML instead (results are
labelled FAKE and go to ``results/validation-fake/`` unless ``--out`` says otherwise).
Exit codes: 0 every step ran (whatever its verdicts), 1 a step failed or something is
missing, 2 bad arguments, 3 stopped by the overall time budget.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import environment
from .layout import REAL_ROOT, is_under

REPO = Path(__file__).resolve().parents[2]


def parse(argv: list[str] | None) -> argparse.Namespace:
    from .fakegpu import HIDEABLE

    ap = argparse.ArgumentParser(prog="python -m energybench.validate", description=__doc__.splitlines()[0])
    ap.add_argument("--fake", action="store_true",
                    help="run everything against a simulated GPU behind a patched NVML (no GPU needed)")
    ap.add_argument("--fake-hide", default="", metavar="Q[,Q...]",
                    help=f"with --fake: NVML quantities that answer NOT_SUPPORTED ({', '.join(HIDEABLE)})")
    ap.add_argument("--out", type=Path, help="the validation folder (default results/validation/<gpu>-<date>)")
    ap.add_argument("--wheels", type=Path, default=REPO / ".wheels",
                    help="wheel folder missing packages are installed from (default .wheels, see make wheels)")
    ap.add_argument("--keep-data", action="store_true", help="keep the generated datasets (printed path)")
    args = ap.parse_args(argv)
    args.fake_hide = tuple(q for q in args.fake_hide.split(",") if q)
    bad = set(args.fake_hide) - set(HIDEABLE)
    if bad or (args.fake_hide and not args.fake):
        ap.error(f"--fake-hide needs --fake and quantities among {', '.join(HIDEABLE)}")
    if args.fake and args.out and is_under(args.out, REPO / REAL_ROOT):
        ap.error(f"--out {args.out}: results of --fake never go under {REAL_ROOT}/ (it holds real measurements)")
    return args


def main(argv: list[str] | None = None) -> int:
    started_mono = time.monotonic()
    args = parse(argv)
    if not args.fake:
        n, why = environment.visible_gpus()
        if n == 0:
            print(f"energybench validate: no NVIDIA GPU visible here ({why}); nothing measured "
                  "(`make validate-gpu ARGS=--fake` runs it against a simulated GPU)")
            return 0
        environment.pick_one_gpu()
    try:
        env = environment.ensure(args.wheels, environment.default_site_dir(REPO))
    except environment.MissingError as exc:
        print(f"energybench validate: {exc}", file=sys.stderr)
        return 1
    from .session import run_validation

    return run_validation(fake=args.fake, out=args.out, hidden=args.fake_hide, env=env,
                          started_mono=started_mono, repo=REPO, keep_data=args.keep_data)


if __name__ == "__main__":
    sys.exit(main())
