"""The report and the side-by-side with the published values, from hand-built datasets."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pytest

from energybench import report as R
from energybench.errors import ResultsError
from energybench.figures import FIGURES
from energybench.paths import DatasetPaths, ResultsLayout
from energybench.reference import (REFERENCE_DIR, compare_energy_per_epoch, compare_freeze_savings, compare_multitask,
                                   load_reference, match_hardware)
from energybench.tables import TABLES, compute_tables, write_tables

from .conftest import eb
from .test_tables import MWH, WH, Dataset, one

REF = load_reference()


def hand_dataset() -> Dataset:
    """gpu-h100 pairs with the journal's h100, rtx-6000-ada with the workshop's; cpu has no published counterpart."""
    d = Dataset()
    d.run("pamap2-unfrozen", hardware="gpu-h100", energy_j=12.02 * WH)
    d.run("pamap2-frozen", hardware="gpu-h100", energy_j=3.89 * WH)
    d.run("pamap2-unfrozen", hardware="cpu", energy_j=2 * WH)
    d.run("pamap2-frozen", hardware="cpu", energy_j=1 * WH)
    d.run("celeba-identity", hardware="gpu-h100", epoch_j=[47.26 * MWH, 47.26 * MWH])
    d.run("pamap2-baseline", hardware="rtx-6000-ada", setup=3, epoch_j=[215.0 * MWH])  # batch 64, lr 0.001
    d.run("pamap2-baseline", hardware="cpu", setup=1, epoch_j=[5.0 * MWH])
    return d


@pytest.fixture(scope="module")
def tables() -> dict[str, pl.DataFrame]:
    return compute_tables(*hand_dataset().frames())


def test_hardware_names_pair_by_containment_or_explicitly() -> None:
    published = REF.published_hardware()
    assert match_hardware(["gpu-h100", "A100_SXM4", "rtx-3090", "RTX 6000 Ada", "cpu"], published) == {
        "gpu-h100": "h100", "A100_SXM4": "a100", "rtx-3090": "rtx3090", "RTX 6000 Ada": "rtx6000ada"}
    assert match_hardware(["cpu", "gpu-h100"], published, {"h100": "cpu"}) == {"cpu": "h100"}


def test_freeze_comparison_rows_for_published_paired_and_unpaired_hardware(tables: dict[str, pl.DataFrame]) -> None:
    out = compare_freeze_savings(tables["freeze_savings"], REF)
    assert out.select("published_hardware", "hardware").rows() == [
        ("h100", "gpu-h100"), ("a100", None), ("rtx3090", None), ("rtx6000ada", None), ("m1max", None), (None, "cpu")]
    h100 = one(out, published_hardware="h100")
    # Journal Table 2 prints Unfreeze 3.89 / Freeze 6.01: compared as the text means it (frozen = smaller).
    assert (h100["published_unfrozen_wh"], h100["published_frozen_wh"], h100["published_savings_frac"]) == (
        6.01, 3.89, 0.352)
    assert h100["published_rows_swapped"] is True
    assert h100["unfrozen_ratio"] == pytest.approx(2.0) and h100["frozen_ratio"] == pytest.approx(1.0)
    assert h100["savings_diff_frac"] == pytest.approx((1 - 3.89 / 12.02) - 0.352)
    cpu = one(out, hardware="cpu")
    assert cpu["source"] is None and cpu["savings_frac"] == pytest.approx(0.5) and cpu["unfrozen_ratio"] is None
    assert one(out, published_hardware="a100")["savings_frac"] is None


def test_multitask_and_energy_per_epoch_comparisons(tables: dict[str, pl.DataFrame]) -> None:
    multi = compare_multitask(tables["multitask"], REF)
    identity = one(multi, published_hardware="h100", type="identity")
    assert identity["hardware"] == "gpu-h100" and identity["epoch_energy_ratio"] == pytest.approx(1.0)
    assert identity["epochs_ratio"] == pytest.approx(2 / 170)
    assert one(multi, published_hardware="h100", type="both")["epoch_energy_mean_mwh"] is None
    assert multi.height == 9  # no measured-only hardware trained a CelebA multitask paradigm
    cells = compare_energy_per_epoch(tables["energy_per_epoch"], REF)
    hit = one(cells, published_hardware="rtx6000ada", dataset="pamap2", batch_size=64, learning_rate=0.001)
    assert (hit["published_epoch_energy_mwh"], hit["epoch_energy_mean_mwh"]) == (107.50, pytest.approx(215.0))
    assert hit["epoch_energy_ratio"] == pytest.approx(2.0) and hit["hardware"] == "rtx-6000-ada"
    assert cells.filter(pl.col("published_hardware") == "m1max").height == 32  # 2 datasets x 16 setups
    assert cells.filter(pl.col("hardware") == "cpu")["published_epoch_energy_mwh"].to_list() == [None]
    assert set(cells["paradigm"]) == {"pamap2-baseline", "celeba-identity"}


def test_comparisons_without_measured_tables_show_every_published_value() -> None:
    assert compare_freeze_savings(None, REF)["savings_frac"].null_count() == 5
    assert compare_multitask(None, REF).height == 9
    assert compare_energy_per_epoch(None, REF).height == 64


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        elif tag not in ("meta", "wbr"):  # void elements
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, (tag, self.stack[-5:])
        self.stack.pop()


def _input(tables: dict[str, pl.DataFrame], **kw: object) -> R.ReportInput:
    extra = pl.DataFrame({"model": ["kernel-ridge"] * 250, "mape_pct": [12.5] * 250})
    return R.ReportInput(
        title="energybench report: hand", tables={**tables, "estimate_evaluation": extra}, reference=REF,
        figures=["figures/total_energy.png", "figures/power_abc.png", "figures/estimate_scatter.png"],
        table_files={"total_energy": ["tables/total_energy.csv"]},
        figure_files={"total_energy": ["figures/total_energy.png"],
                      "power_abc": ["figures/power_abc.png", "figures/power_abc.pdf"]},
        runs=hand_dataset().frames()[0], **kw)  # type: ignore[arg-type]


def section(md: str, heading: str) -> str:
    """The Markdown from ``heading`` to the next heading of the same or a higher level."""
    level = heading.split(" ")[0]
    start = md.index(f"\n{heading}\n")
    ends = [md.find(f"\n{'#' * n} ", start + 1) for n in range(1, len(level) + 1)]
    return md[start:min([e for e in ends if e > 0], default=len(md))]


def test_report_has_every_table_and_figure_and_the_side_by_side(tables: dict[str, pl.DataFrame]) -> None:
    md, page = R.render_report(_input(tables))
    for name in [*TABLES, "estimate_evaluation"]:
        assert f"\n### Table `{name}`\n" in md
    for src in ("figures/total_energy.png", "figures/power_abc.png", "figures/estimate_scatter.png"):
        assert f"]({src})" in md
    assert "[pdf](figures/power_abc.pdf)" in md
    table_section = section(md, "### Table `total_energy`")
    assert "[csv](tables/total_energy.csv)" in table_section and "figures/" not in table_section
    assert FIGURES["power"].__doc__.split(",")[0] in md  # a figure family's description
    assert "(first 200 of 250 rows" in md and "estimate_evaluation" in section(md, "## Other tables")
    assert "estimate_scatter" in section(md, "## Other figures")
    # Each published comparison sits in the section of the question it concerns, after that section's findings.
    freezing = section(md, "## Freezing the pretrained encoder")
    assert freezing.index("**Freezing the encoder**") < freezing.index("### Published vs measured: frozen vs")
    assert "| h100 | gpu-h100 | journal:table2 | true | 6.01 | 3.89 | 0.352 | 12.02 | 3.89 |" in freezing
    assert "| a100 | not measured | journal:table2 |" in freezing
    assert "| not published | cpu | not published | not published | not published |" in freezing
    assert "### Published vs measured: multitask" in section(md, "## Multitask vs single tasks")
    assert "107.50 / 215.00 (2.00x)" in section(md, "## Energy per epoch") and "— / 5.00" in md
    pairing = section(md, "## Published values and hardware pairing")
    assert "`gpu-h100` = `h100`" in pairing and "`rtx-6000-ada` = `rtx6000ada`" in pairing
    assert "`estimate` meter" not in md  # only said of datasets that used it
    assert "`synthetic` meter is a test trace" in section(md, "## Findings")
    checker = _Checker()
    checker.feed(page)
    assert checker.stack == [] and page.startswith("<!doctype html>")
    # The total energy beside the findings (no heatmap was drawn), then every figure in its section.
    assert checker.images == ["figures/total_energy.png", "figures/total_energy.png", "figures/power_abc.png",
                              "figures/estimate_scatter.png"]
    # A long table shows its first rows and folds the whole of it.
    assert page.count("<table>") == md.count("\n|---|") + page.count("<details>") and "not measured" in page
    assert "Show all 200 rows (the first 200 of 250 rows; all of them in the CSV file)" in page
    assert "<script" not in page and 'src="http' not in page and 'href="http' not in page


def test_findings_come_first_and_every_link_lands(tables: dict[str, pl.DataFrame]) -> None:
    md, page = R.render_report(_input(tables))
    assert md.index("## Findings") < md.index("## Contents") < md.index("## Energy to early stop per setup")
    assert page.index('<section class="findings">') < page.index("<nav") < page.index("<table>")
    findings = section(md, "## Findings")
    assert "- PAMAP2 on `rtx-6000-ada` (`pamap2-baseline`, 1 setup): only setup 3" in findings
    assert "([table](#table-freeze_savings) · [published](#published-vs-measured-frozen-vs-fine-tuned-journal-" \
           "table-2-workshop-table-3))" in findings
    assert "No break-even: it needs" in findings  # said, not left out
    ids = re.findall(r' id="([^"]+)"', page)
    assert len(ids) == len(set(ids))
    assert {"findings", "contents", "table-total_energy", "figure-total_energy"} <= set(ids)
    html_links = set(re.findall(r'href="#([^"]+)"', page))
    assert html_links and html_links <= set(ids), html_links - set(ids)
    # Markdown anchors are GitHub's, made from the heading text: the same ones.
    md_links = set(re.findall(r"\]\(#([^)]+)\)", md))
    assert md_links == html_links
    headings = {R.anchor(h) for h in re.findall(r"^#+ (.+)$", md, flags=re.M)}
    assert md_links <= headings, md_links - headings


def test_every_registered_table_and_figure_has_a_section() -> None:
    assert set(TABLES) <= {t for s in R.SECTIONS for t in s.tables}
    assert set(FIGURES) - {"search"} <= {f for s in R.SECTIONS for f in s.figures}  # search: its own section


def test_report_without_reference_or_tables_says_so() -> None:
    md, _ = R.render_report(R.ReportInput(title="t", tables={}, reference=None, reference_note="No published values."))
    assert "No published values." in md and "No `total_energy` table" in md and "No figure here" in md
    assert "No setup energies" in section(md, "## Findings") and "No run records" in section(md, "## Findings")


def test_cell_formatting() -> None:
    assert [R.fmt(v) for v in (109.63, 0.352, 12345.6, 0.0, 7, 12345, True, 1e-5)] == [
        "109.63", "0.352", "12,346", "0.00", "7", "12,345", "true", "1e-05"]


def results_dir(root: Path) -> ResultsLayout:
    """A results directory as collect and figures leave it, with a colleague's extra table and figure."""
    layout = ResultsLayout(root / "res")
    runs, epochs = hand_dataset().frames()
    DatasetPaths(layout.dataset_dir).dir.mkdir(parents=True)
    runs.write_parquet(DatasetPaths(layout.dataset_dir).runs)
    epochs.write_parquet(DatasetPaths(layout.dataset_dir).epochs)
    write_tables(compute_tables(runs, epochs), layout.tables_dir)
    pl.DataFrame({"estimator": ["online"], "mape_pct": [9.5]}).write_csv(layout.tables_dir / "estimate_evaluation.csv")
    layout.figures_dir.mkdir()
    for name in ("total_energy", "estimate_scatter"):
        (layout.figures_dir / f"{name}.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (layout.figures_dir / "total_energy.pdf").write_bytes(b"%PDF-")
    return layout


def test_write_report_reads_the_directory(tmp_path: Path) -> None:
    layout = results_dir(tmp_path)
    md_path, html_path = R.write_report(layout.root)
    assert (md_path, html_path) == (layout.root / "report.md", layout.root / "report.html")
    md = md_path.read_text()
    assert "### Table `estimate_evaluation`" in md and "| online | 9.50 |" in md
    assert "![total_energy](figures/total_energy.png)" in md and "[pdf](figures/total_energy.pdf)" in md
    assert "![estimate_scatter](figures/estimate_scatter.png)" in md
    page = html_path.read_text()
    assert '<img src="figures/total_energy.png"' in page
    for src in re.findall(r'<img src="([^"]+)"', page):  # relative links that resolve
        assert (layout.root / src).is_file(), src
    assert not [p for p in layout.root.iterdir() if p.name.endswith(".tmp")]
    with pytest.raises(ResultsError, match="no tables/ here"):
        R.write_report(tmp_path / "elsewhere")
    with pytest.raises(ResultsError, match="'h200' is not a published hardware"):
        R.write_report(layout.root, pairs={"h200": "cpu"})
    with pytest.raises(ResultsError, match="cannot read the published values"):
        R.write_report(layout.root, reference_dir=tmp_path)


def test_report_command(tmp_path: Path) -> None:
    layout = results_dir(tmp_path)
    r = eb("report", str(layout.root), "--hardware", "m1max=cpu")
    assert r.returncode == 0, r.stderr
    assert f"report: {layout.root / 'report.md'}" in r.stdout and "report.html" in r.stdout
    assert "`cpu` = `m1max`" in (layout.root / "report.md").read_text()
    for args, message in ((["--hardware", "m1max"], "expected PUBLISHED=MEASURED"),
                          (["--hardware", "tpu=cpu"], "is not a published hardware")):
        r = eb("report", str(layout.root), *args)
        assert r.returncode == 1 and r.stderr.count("\n") == 1 and message in r.stderr, r.stderr
    (tmp_path / "nothing").mkdir()
    r = eb("report", str(tmp_path / "nothing"))
    assert r.returncode == 1 and "no tables/ here" in r.stderr and "Traceback" not in r.stderr


# The published values themselves: what the README says about them holds.

def test_journal_table2_rows_are_recorded_swapped_and_compared_as_meant() -> None:
    freeze = REF.freeze_savings
    for row in freeze.iter_rows(named=True):
        smaller, larger = sorted((row["printed_unfreeze_wh"], row["printed_freeze_wh"]))
        assert row["frozen_energy_wh"] == smaller and row["unfrozen_energy_wh"] == larger
        assert row["savings_frac"] == pytest.approx(row["printed_savings_pct"] / 100)
        assert row["savings_frac"] == pytest.approx(1 - smaller / larger, abs=0.005)
        assert row["rows_swapped"] == (row["source"] == "journal:table2")
        assert row["rows_swapped"] == (row["printed_freeze_wh"] > row["printed_unfreeze_wh"])


def test_reference_files_cover_the_published_tables() -> None:
    hardware = set(REF.hardware["hardware"])
    for frame in (REF.freeze_savings, REF.multitask, REF.energy_per_epoch):
        assert set(frame["hardware"]) <= hardware
    assert REF.multitask.group_by("hardware").len().sort("hardware").rows() == [("a100", 3), ("h100", 3), ("rtx3090", 3)]
    cells = REF.energy_per_epoch.group_by("hardware", "dataset").agg(
        pl.col("batch_size").n_unique().alias("b"), pl.col("learning_rate").n_unique().alias("l"), pl.len())
    assert cells.select("b", "l", "len").unique().rows() == [(4, 4, 16)] and cells.height == 4
    restored = REF.energy_per_epoch.filter(pl.col("note").str.starts_with("decimal point lost"))
    assert restored.height > 20
    for row in restored.iter_rows(named=True):
        assert round(row["epoch_energy_mwh"] * 100) == int(row["source_text"])
    readme = (REFERENCE_DIR / "README.md").read_text()
    for source in set(REF.freeze_savings["source"]) | set(REF.multitask["source"]):
        assert f"`{source}`" in readme
