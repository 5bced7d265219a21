"""The registry of paradigms (what one run trains), without importing torch.

Planning and validation need to know a paradigm's dataset and dependencies;
the worker maps each name to models and losses (``worker/tasks.py``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Paradigm:
    """One kind of run of the study."""

    name: str
    dataset: str  # "pamap2" | "celeba"
    #: paradigm whose run of the same setup, repeat and hardware must finish first
    depends_on: str | None
    #: what early stopping watches: "val_accuracy" (threshold rule) or "val_loss"
    monitor: str
    doc: str


PARADIGMS: dict[str, Paradigm] = {
    p.name: p
    for p in (
        Paradigm("pamap2-baseline", "pamap2", None, "val_accuracy",
                 "conv encoder + classifier trained from scratch"),
        Paradigm("pamap2-autoencoder", "pamap2", None, "val_loss",
                 "autoencoder pretraining of the encoder (reconstruction loss)"),
        Paradigm("pamap2-frozen", "pamap2", "pamap2-autoencoder", "val_accuracy",
                 "classifier on the pretrained encoder, encoder frozen"),
        Paradigm("pamap2-unfrozen", "pamap2", "pamap2-autoencoder", "val_accuracy",
                 "classifier on the pretrained encoder, encoder fine-tuned"),
        Paradigm("celeba-identity", "celeba", None, "val_accuracy",
                 "ResNet18 + conv head, 40-way identity"),
        Paradigm("celeba-attributes", "celeba", None, "val_accuracy",
                 "ResNet18 + conv head, 40 binary attributes (mean accuracy)"),
        Paradigm("celeba-multitask", "celeba", None, "val_accuracy",
                 "ResNet18 + both heads, alpha-weighted loss"),
    )
}

#: The paradigm that stands for its dataset where one is shown (the study's headline runs).
MAIN_PARADIGM: dict[str, str] = {"pamap2": "pamap2-baseline", "celeba": "celeba-identity"}


def stage(name: str) -> int:
    """0 for runs with no dependency, 1 for runs that need another run first."""
    return 0 if PARADIGMS[name].depends_on is None else 1
