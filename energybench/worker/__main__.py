"""``python -m energybench.worker RUN_DIR``: execute one run."""

import sys

from .entry import main

if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m energybench.worker RUN_DIR", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
