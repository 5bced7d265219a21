"""The findings block on hand-built datasets whose answers are worked out here."""

from __future__ import annotations

import polars as pl
import pytest

from energybench.findings import TOPICS, Finding, compute_findings, energy_text, published_multitask_savings
from energybench.reference import load_reference
from energybench.tables import compute_tables

from .test_tables import WH, Dataset

REF = load_reference()


def findings_of(d: Dataset, **kw: object) -> list[Finding]:
    runs, epochs = d.frames()
    return compute_findings(compute_tables(runs, epochs), runs, REF, **kw)  # type: ignore[arg-type]


def of(findings: list[Finding], topic: str) -> list[Finding]:
    return [f for f in findings if f.topic == topic]


def test_cheapest_and_most_expensive_setup_of_the_main_paradigm() -> None:
    d = Dataset()
    for setup, wh in ((1, 4.0), (2, 1.0), (5, 10.0), (6, 2.5)):
        d.run("pamap2-baseline", hardware="h100", setup=setup, energy_j=wh * WH)
    d.run("pamap2-frozen", hardware="h100", setup=3, energy_j=0.1 * WH)  # cheaper, but not the main paradigm
    d.run("celeba-attributes", hardware="h100", setup=1, energy_j=0.5 * WH)  # CelebA's only paradigm here
    found = of(findings_of(d), "cheapest")
    assert [f.text.split(" (")[0] for f in found] == ["PAMAP2 on `h100`", "CelebA on `h100`"]  # the study's order
    pamap2, celeba = found
    assert "(`pamap2-baseline`, 4 setups): cheapest setup 2 (batch 64, lr 0.01), 1 Wh" in pamap2.text
    assert "most expensive setup 5 (batch 256, lr 0.1), 10 Wh" in pamap2.text
    assert "The cheapest costs 10 % of the most expensive (10.0x less" in pamap2.text
    assert pamap2.table == "total_energy" and pamap2.figures == ("total_energy", "energy_per_epoch_pamap2_h100")
    assert "(`celeba-attributes`, 1 setup): only setup 1" in celeba.text and "500 mWh" in celeba.text
    assert not pamap2.missing


def test_energy_to_target_of_the_cheapest_setup() -> None:
    d = Dataset()
    d.run("pamap2-baseline", setup=1, epoch_j=[1 * WH, 2 * WH, 3 * WH], threshold_epoch=2)
    d.run("pamap2-baseline", setup=1, repeat=2, epoch_j=[1 * WH, 2 * WH, 3 * WH], threshold_epoch=None)
    d.run("pamap2-baseline", setup=2, epoch_j=[10 * WH], threshold_epoch=1)
    (f,) = of(findings_of(d), "energy_to_target")
    assert f.text == ("PAMAP2 on `h100`: the cheapest setup 1 reached the target accuracy in 1 of 2 runs, after 3 Wh "
                      "on average (50 % of its energy to early stop).")
    d = Dataset()
    d.run("pamap2-baseline", setup=1, epoch_j=[1 * WH])
    (f,) = of(findings_of(d), "energy_to_target")
    assert "never reached the target accuracy (0 of 1 runs)" in f.text


def test_break_even_best_average_worst() -> None:
    """E_enc 10 Wh; setup 1: frozen 1, baseline 3 -> 10 / 2 = 5 cycles; setup 2: frozen 2, baseline 2 -> never;
    average: 10 / (2.5 - 1.5) = 10 cycles."""
    d = Dataset()
    for setup, frozen, baseline in ((1, 1.0, 3.0), (2, 2.0, 2.0)):
        d.run("pamap2-autoencoder", setup=setup, energy_j=10 * WH)
        d.run("pamap2-frozen", setup=setup, energy_j=frozen * WH)
        d.run("pamap2-baseline", setup=setup, energy_j=baseline * WH)
    (f,) = of(findings_of(d), "break_even")
    assert f.text == ("`h100`: pretraining the encoder pays off: 5.0 cycles at best (setup 1), 10.0 cycles on average "
                      "over 2 setups, never at worst (setup 2) of reusing it (eq. 2).")
    assert f.figures == ("break_even",) and not f.missing


def test_freeze_savings_beside_the_published_ones() -> None:
    d = Dataset()
    d.run("pamap2-unfrozen", hardware="gpu-h100", energy_j=10 * WH)
    d.run("pamap2-frozen", hardware="gpu-h100", energy_j=4 * WH)
    d.run("pamap2-unfrozen", hardware="cpu", energy_j=1 * WH)
    d.run("pamap2-frozen", hardware="cpu", energy_j=1.5 * WH)
    cpu, h100 = of(findings_of(d), "freeze")
    assert h100.text == ("`gpu-h100`: freezing the pretrained encoder saved 60 % (4 Wh vs 10 Wh fine-tuned, mean over "
                         "1 setup); published for `h100`: 35.2 %.")
    assert cpu.text.startswith("`cpu`: freezing the pretrained encoder cost 50 % more") and cpu.text.endswith(").")
    # Paired explicitly, cpu is compared with the workshop's M1 Max.
    cpu, _ = of(findings_of(d, pairs={"m1max": "cpu"}), "freeze")
    assert cpu.text.endswith("published for `m1max`: 46.1 %.")


def test_multitask_vs_the_two_single_tasks() -> None:
    d = Dataset()
    for paradigm, wh in (("celeba-attributes", 3.0), ("celeba-identity", 2.0), ("celeba-multitask", 4.0)):
        d.run(paradigm, hardware="gpu-h100", energy_j=wh * WH)
    (f,) = of(findings_of(d), "multitask")
    published = 1 - 48.34 * 85 / (47.93 * 358 + 47.26 * 170)  # journal Table 3, H100
    assert published_multitask_savings(REF)["h100"] == pytest.approx(published)
    assert f.text == ("`gpu-h100`: multitask beat the single tasks by 20 %: 4 Wh vs 5 Wh for attribute + identity "
                      "trained separately (mean per setup over 1 setup); published for `h100`: "
                      f"{100 * published:.0f} % (journal Table 3, energy per epoch x epochs).")
    d = Dataset()
    for paradigm, wh in (("celeba-attributes", 1.0), ("celeba-identity", 1.0), ("celeba-multitask", 3.0)):
        d.run(paradigm, hardware="cpu", energy_j=wh * WH)
    (f,) = of(findings_of(d), "multitask")
    assert "did not beat the single tasks (50 % more)" in f.text and "published" not in f.text


def test_what_the_tables_cannot_answer_is_said_not_omitted() -> None:
    d = Dataset()
    d.run("pamap2-baseline", setup=1, energy_j=1 * WH)
    d.run("celeba-identity", setup=1, energy_j=1 * WH)
    d.run("pamap2-autoencoder", setup=1, energy_j=1 * WH, status="FAILED")
    found = findings_of(d)
    assert [f.topic for f in found] == ["cheapest", "cheapest", "energy_to_target", "energy_to_target",
                                        "break_even", "freeze", "multitask", "provenance"]
    missing = {f.topic: f.text for f in found if f.missing}
    assert set(missing) == {"break_even", "freeze", "multitask"}
    assert "no completed run of `pamap2-autoencoder`, `pamap2-frozen`" in missing["break_even"]
    assert "no completed run of `pamap2-frozen`, `pamap2-unfrozen`" in missing["freeze"]
    assert "no completed run of `celeba-attributes`, `celeba-multitask`" in missing["multitask"]
    nothing = compute_findings({}, None, None)
    assert [f.topic for f in nothing] == list(TOPICS) and all(f.missing for f in nothing)
    assert "No run records" in nothing[-1].text


def test_provenance_names_meters_and_data() -> None:
    d = Dataset()
    d.run("pamap2-baseline", setup=1)
    d.run("pamap2-baseline", setup=2, status="FAILED")
    runs, epochs = d.frames()
    runs = runs.with_columns(meter=pl.Series(["estimate", "nvml"]), data_synthetic=pl.Series([True, False]))
    (f,) = of(compute_findings(compute_tables(runs, epochs), runs), "provenance")
    assert f.text == ("2 runs (1 COMPLETED, 1 FAILED) on `h100`; energy from the `estimate` meter is a model (TDP x "
                      "utilisation), not a measurement; energy from the `nvml` meter is measured (NVIDIA GPU energy "
                      "counters); 1 of 2 runs trained on generated data, the rest on the published datasets.")


def test_energy_text_units() -> None:
    assert [energy_text(v) for v in (12.345, 1.0, 0.5, 0.0299, 0.0000123, 123.4)] == [
        "12.3 Wh", "1 Wh", "500 mWh", "29.9 mWh", "0.0123 mWh", "123 Wh"]
