"""How long each step measures and how big its data are: on a GPU, and with ``--fake``.

The GPU profile fits the machines it is written for (about 10 minutes for one
command): every step's budget added up stays under :attr:`Profile.total_budget_s`
(8 minutes), which the runner enforces. The fake profile runs the same steps in
miniature on the CPU in well under 2 minutes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: The study's batch sizes (paper, Table 1).
STUDY_BATCH_SIZES: tuple[int, ...] = (64, 256, 1024, 4096)


@dataclass(frozen=True)
class Profile:
    """Durations in seconds, sizes as named."""

    name: str
    device: str  # torch device of the loads and the training ("cuda" | "cpu")
    total_budget_s: float  # the whole validation stops itself before this
    budgets_s: dict[str, float]  # step name -> most seconds it may take
    idle_s: float  # idle window
    poll_s: float  # counter update-period probe: polling time
    window_s: float  # each load window (steady, bursty): at least 60 s on a GPU
    record_hz: float  # rate of the recorder in the load windows; 10 Hz is every n-th reading
    burst_s: tuple[float, float]  # bursty load: on and off phases drawn from this range
    matmul_n: int  # the load's square matrix size
    overhead_s: float  # sampler overhead: time for the interleaved rounds
    overhead_block_s: float  # one mode's block of training steps in one round
    overhead_batch_size: int  # PAMAP2 training step of the overhead benchmark
    study_epochs: int  # epochs of each study run
    study_batch_sizes: tuple[int, ...]
    pamap2_seconds_per_activity: float  # generated PAMAP2: seconds per subject and activity
    celeba_identities: int  # generated CelebA: identities ...
    celeba_images_per_identity: int  # ... and images of each
    celeba_image_sizes_px: tuple[int | str, ...]  # CelebA sizes the study trains at: a square side, or "native"
    loader_workers: int | None  # DataLoader pipeline's worker processes (None: the job's CPUs - 1)
    worker_batch_sizes: tuple[int, ...]  # worker vs bare loop
    worker_s: float  # worker vs bare loop: seconds of rounds per batch size
    worker_max_windows: int | None  # worker vs bare loop: cap on PAMAP2 windows per split (None: all)
    counter_target_pct: float = 2.0  # counter vs instant-power integral, steady load: largest |difference|
    worker_target: float = 1.10  # worker / bare epoch time, median
    extra: dict[str, float] = field(default_factory=dict)


GPU = Profile(
    name="gpu", device="cuda", total_budget_s=475.0,
    budgets_s={"environment": 30, "nvml": 20, "idle": 70, "counter-period": 12, "steady": 75,
               "bursty": 75, "sampler-overhead": 60, "study": 150, "worker": 60},
    idle_s=60.0, poll_s=5.0, window_s=62.0, record_hz=100.0, burst_s=(0.05, 0.6), matmul_n=8192,
    overhead_s=50.0, overhead_block_s=0.5, overhead_batch_size=64,
    study_epochs=3, study_batch_sizes=STUDY_BATCH_SIZES,
    # Study sizes: PAMAP2 ~3 min per subject and activity (~11,700 training windows of 256
    # samples), CelebA's 40 most frequent identities have ~30 images each.
    pamap2_seconds_per_activity=180.0, celeba_identities=40, celeba_images_per_identity=30,
    celeba_image_sizes_px=(128, "native"), loader_workers=None,
    worker_batch_sizes=(64, 1024), worker_s=22.0, worker_max_windows=None,
)

FAKE = Profile(
    name="fake", device="cpu", total_budget_s=115.0,
    budgets_s={"environment": 10, "nvml": 10, "idle": 5, "counter-period": 4, "steady": 8,
               "bursty": 8, "sampler-overhead": 15, "study": 60, "worker": 20},
    idle_s=1.0, poll_s=0.5, window_s=1.5, record_hz=100.0, burst_s=(0.02, 0.15), matmul_n=192,
    overhead_s=1.5, overhead_block_s=0.02, overhead_batch_size=4,
    study_epochs=1, study_batch_sizes=(64, 1024),
    pamap2_seconds_per_activity=3.0, celeba_identities=4, celeba_images_per_identity=4,
    celeba_image_sizes_px=(32,), loader_workers=0,
    worker_batch_sizes=(64, 1024), worker_s=1.0, worker_max_windows=16,
)

PROFILES = {p.name: p for p in (GPU, FAKE)}
