"""The study's datasets at the study's sizes, generated in a child process while the power steps run.

Generating PAMAP2 at its real size (nine subjects, ~3 minutes per activity, written in the UCI
text format) takes most of a minute; the child writes it and warms the loaders' caches while
the GPU measures idle power and the load windows, so the study step starts training at once.
``python -m energybench.validate.studydata ROOT PROFILE STATUS_JSON`` is that child.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import TextIO

from ..paths import write_json
from .profiles import PROFILES, Profile

REPO = Path(__file__).resolve().parents[2]


def generate(root: Path, profile: Profile) -> dict[str, str]:
    """Write PAMAP2 and CelebA under ``root`` at ``profile``'s sizes and warm the loaders' caches."""
    from ..config import CelebaData, Pamap2Data
    from ..worker.data import (
        SYNTHETIC_MARKER,
        generate_celeba,
        generate_pamap2,
        load_celeba,
        load_pamap2,
    )

    pamap2, celeba = root / "pamap2", root / "celeba"
    marker = json.dumps({"generator": "energybench validate", "profile": profile.name}) + "\n"
    generate_pamap2(pamap2, seconds_per_activity=profile.pamap2_seconds_per_activity)
    (pamap2 / SYNTHETIC_MARKER).write_text(marker)
    d = Pamap2Data(path=pamap2)
    load_pamap2(pamap2, window_samples=d.window_samples, stride_samples=d.stride_samples, max_windows=None)
    generate_celeba(celeba, identities=profile.celeba_identities,
                    images_per_identity=profile.celeba_images_per_identity)
    (celeba / SYNTHETIC_MARKER).write_text(marker)
    for px in profile.celeba_image_sizes_px:
        load_celeba(celeba, identities=CelebaData(path=celeba, identities=profile.celeba_identities).identities,
                    image_size_px=px, max_images=None)
    return {"pamap2": str(pamap2), "celeba": str(celeba)}


class DataJob:
    """The child process generating the data, and its status file."""

    def __init__(self, root: Path, profile: Profile, log: TextIO) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.status = root / "status.json"
        self.status.unlink(missing_ok=True)
        self.t0_mono = time.monotonic()
        env = os.environ.copy()  # with the site directory of missing packages, and this energybench
        paths = [str(REPO), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
        env["PYTHONPATH"] = os.pathsep.join(paths)
        self.proc = subprocess.Popen([sys.executable, "-m", "energybench.validate.studydata", str(root),
                                      profile.name, str(self.status)], stdout=log, stderr=log, env=env)
        self.seconds: float | None = None

    def wait(self, deadline_mono: float) -> dict[str, str]:
        """The datasets' folders, once the child is done; raises when it failed or the deadline passed."""
        try:
            self.proc.wait(timeout=max(deadline_mono - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("generating the study's data did not finish within the step's budget") from None
        self.seconds = time.monotonic() - self.t0_mono
        status = json.loads(self.status.read_text()) if self.status.exists() else {}
        if self.proc.returncode != 0 or "error" in status or not status:
            why = status.get("error", f"exit code {self.proc.returncode}")
            raise RuntimeError(f"generating the study's data failed: {why}")
        return status["datasets"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def main(argv: list[str]) -> int:
    root, profile, status = Path(argv[0]), PROFILES[argv[1]], Path(argv[2])
    t0 = time.perf_counter()
    try:
        datasets = generate(root, profile)
    except Exception as exc:  # the parent reports it as the study step's error
        traceback.print_exc()
        write_json(status, {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"})
        return 1
    write_json(status, {"datasets": datasets, "seconds": time.perf_counter() - t0})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
