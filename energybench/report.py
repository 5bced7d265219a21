"""``energybench report DIR``: the findings first, then every table and figure beside the study.

:func:`render_report` is pure: (tables, published values, figure paths) ->
Markdown and HTML text, through one list of blocks so both say the same. The
report opens with the findings (:mod:`energybench.findings`, computed from
the tables) beside the two figures that carry the study, then a table of
contents and one section per question, each with its findings, its tables,
the published values it is compared with, and its figures. Tables and figures
no section claims (ones other tools add) follow in their own sections.
:func:`write_report` is the I/O edge: it reads ``DIR/tables`` and lists
``DIR/figures`` and writes ``DIR/report.md`` and ``DIR/report.html`` (CSS and
tables inline, images by relative path, no scripts or external fonts, so the
folder can be moved, opened in a browser or printed as it is).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from .boundary import boundary_blocks, conversions_blocks
from .choices import Choice, choices_blocks, read_choices
from .claims import CLAIMS_FILE, check_claims, claims_blocks, load_claims
from .errors import ResultsError
from .tables import SEARCH_TABLES
from .findings import TOPICS, Finding, compute_findings
from .paths import DatasetPaths, ResultsLayout, atomic_path, figure_paths
from .reference import REFERENCE_DIR, Reference, compare_energy_per_epoch, compare_freeze_savings, \
    compare_multitask, load_reference, match_hardware
from .render import NOTHING, Block, Contents, Findings, Grid, Heading, Image, Item, Items, Links, Text, anchor, \
    fmt, to_html, to_markdown

#: Rows shown per table; the rest are in the table's CSV file.
MAX_ROWS = 200
NOT_MEASURED, NOT_PUBLISHED = "not measured", "not published"
_DATASET_TITLES = {"pamap2": "PAMAP2", "celeba": "CelebA"}
PUBLISHED_ANCHOR = "published-values-and-hardware-pairing"
FINDINGS_NOTE = ("Computed from the tables of this directory by `energybench report` (nothing here is written by "
                 "hand); each line links to its table and figure, and to the published values where the study has "
                 "them.")


@dataclass(frozen=True)
class ReportInput:
    """Everything the report shows; paths are relative to the report's folder."""

    title: str
    tables: Mapping[str, pl.DataFrame]
    reference: Reference | None
    figures: Sequence[str] = ()  # PNG paths
    table_files: Mapping[str, Sequence[str]] = field(default_factory=dict)  # table name -> its CSV and Parquet
    figure_files: Mapping[str, Sequence[str]] = field(default_factory=dict)  # figure name -> its PNG and PDF
    runs: pl.DataFrame | None = None
    pairs: Mapping[str, str] = field(default_factory=dict)  # published -> measured hardware
    reference_note: str | None = None  # why there is no reference
    choices: Sequence[Choice] | None = None  # the open choices these runs made (None: no plan.json)
    epochs: pl.DataFrame | None = None  # dataset/epochs.parquet (the measurement boundary's sampling checks)


@dataclass(frozen=True)
class Section:
    """One question of the study: the tables, the published comparison and the figure families that answer it."""

    title: str
    tables: tuple[str, ...] = ()
    figures: tuple[str, ...] = ()
    comparison: str | None = None  # a key of _COMPARISONS


#: The report's sections in reading order (the findings' order). A table or figure none claims goes to "Other".
SECTIONS = (
    Section("Energy to early stop per setup", ("total_energy",), ("total_energy", "energy_by_domain", "relative_energy")),
    Section("Energy per epoch", ("energy_per_epoch",), ("energy_per_epoch",), "energy_per_epoch"),
    Section("Energy to the target accuracy", ("energy_to_target",)),
    Section("Break-even of the pretraining", ("break_even",), ("break_even",)),
    Section("Freezing the pretrained encoder", ("freeze_savings",), (), "freeze_savings"),
    Section("Multitask vs single tasks", ("multitask",), ("multitask", "multitask_setups"), "multitask"),
    Section("Power over time", (), ("power",)),
)


def table_heading(name: str) -> str:
    return f"Table `{name}`"


def figure_heading(name: str) -> str:
    return f"Figure `{name}`"


def _first_line(doc: str | None) -> str | None:
    return doc.strip().split("\n\n")[0].replace("\n", " ") if doc else None


def _hardware_text(ref: Reference, tables: Mapping[str, pl.DataFrame], pairs: Mapping[str, str]) -> str:
    measured = sorted({h for t in tables.values() if "hardware" in t.columns for h in t["hardware"].drop_nulls()})
    matches = match_hardware(measured, ref.published_hardware(), dict(pairs))
    published = ", ".join(f"`{r['hardware']}` ({r['paper_label']}: {r['device']})" for r in ref.hardware.iter_rows(named=True))
    paired = ", ".join(f"`{m}` = `{p}`" for m, p in sorted(matches.items())) or "none"
    return (f"Published hardware: {published}. Measured hardware: {', '.join(f'`{h}`' for h in measured) or 'none'}; "
            f"paired: {paired}. A measured name is paired with the published one it contains (`gpu-h100` = "
            "`h100`); `energybench report DIR --hardware PUBLISHED=MEASURED` pairs others. Published hardware "
            f"that was not measured shows \"{NOT_MEASURED}\"; measured hardware without a published counterpart "
            f"shows \"{NOT_PUBLISHED}\". Ratios are measured / published.")


def _nulls(frame: pl.DataFrame) -> dict[str, str]:
    """Missing published values read "not published", missing measured ones "not measured"."""
    out = {}
    for c in frame.columns:
        if c.startswith("published_") or c == "source":
            out[c] = NOT_PUBLISHED
        elif not c.endswith(("_ratio", "_diff_frac")):
            out[c] = NOT_MEASURED
    return out


def _matrices(comparison: pl.DataFrame) -> list[Block]:
    """Workshop Table 2's form: batch size x learning rate per dataset and hardware pair, cells published / measured."""
    blocks: list[Block] = []
    for (dataset, paradigm), part in comparison.group_by(["dataset", "paradigm"], maintain_order=True):
        blocks.append(Heading(f"{_DATASET_TITLES.get(str(dataset), dataset)} (`{paradigm}`)", 4))
        for (pub, hw), cells in part.group_by(["published_hardware", "hardware"], maintain_order=True):
            rates = sorted(cells["learning_rate"].unique(), reverse=True)
            rows = []
            for bs in sorted(cells["batch_size"].unique()):
                row: dict[str, str] = {"batch_size": str(bs)}
                for lr in rates:
                    hit = cells.filter((pl.col("batch_size") == bs) & (pl.col("learning_rate") == lr))
                    row[f"lr {lr:g}"] = _cell(hit.row(0, named=True) if hit.height else {})
                rows.append(row)
            title = " vs ".join([f"`{pub}` (published)" if pub else NOT_PUBLISHED,
                                 f"`{hw}` (measured)" if hw else NOT_MEASURED])
            blocks += [Text(f"{title}: mWh per epoch, published / measured (measured / published); eq. 1 "
                            "(measured / published), eq. 1 / counter"),
                       Grid(pl.DataFrame(rows))]
    return blocks


def _cell(r: Mapping[str, object]) -> str:
    pub, mine, ratio = (r.get(k) for k in ("published_epoch_energy_mwh", "epoch_energy_mean_mwh", "epoch_energy_ratio"))
    text = f"{fmt(pub) if pub is not None else NOTHING} / {fmt(mine) if mine is not None else NOT_MEASURED}"
    text += f" ({ratio:.2f}x)" if isinstance(ratio, float) else ""
    eq1, eq1_ratio, of_counter = (r.get(k) for k in ("epoch_energy_eq1_mean_mwh", "eq1_ratio", "eq1_over_counter_ratio"))
    if isinstance(eq1, float):  # the study's own method beside the counter: eq. 1 value, vs published, vs counter
        text += f"; eq. 1 {fmt(eq1)}" + (f" ({eq1_ratio:.2f}x)" if isinstance(eq1_ratio, float) else "")
        text += f", eq. 1 / counter {of_counter:.2f}" if isinstance(of_counter, float) else ""
    return text


#: How a finding's link names a figure of each family.
FIGURE_LABELS = {"energy_per_epoch": "heatmap", "total_energy": "bars", "break_even": "lines", "multitask": "bars",
                 "relative_energy": "heatmap", "multitask_setups": "bars"}
#: The heading of each published-vs-measured comparison (findings link to it).
COMPARISON_TITLES = {
    "freeze_savings": "Published vs measured: frozen vs fine-tuned (journal Table 2, workshop Table 3)",
    "multitask": "Published vs measured: multitask (journal Table 3)",
    "energy_per_epoch": "Published vs measured: energy per epoch (workshop Table 2)",
}
_PAIRING = f"Hardware pairs: see [Published values and hardware pairing](#{PUBLISHED_ANCHOR})."


def _freeze_comparison(inp: ReportInput) -> list[Block]:
    freeze = compare_freeze_savings(inp.tables.get("freeze_savings"), inp.reference, dict(inp.pairs))
    return [Heading(COMPARISON_TITLES["freeze_savings"], 3),
            Text("Mean energy (Wh) of a classifier on the pretrained encoder, frozen or fine-tuned (unfrozen), and "
                 "the saving 1 - frozen / unfrozen. The journal's Table 2 prints its two rows swapped (\"Freeze\" on "
                 "the larger energy) while its text and its savings (1 - smaller / larger) say freezing saves: the "
                 "published columns hold the values as the text means them (`published_rows_swapped` marks "
                 f"them). {_PAIRING}"),
            Grid(freeze, _nulls(freeze))]


def _multitask_comparison(inp: ReportInput) -> list[Block]:
    multi = compare_multitask(inp.tables.get("multitask"), inp.reference, dict(inp.pairs))
    return [Heading(COMPARISON_TITLES["multitask"], 3),
            Text("Mean energy per epoch (mWh) and mean epochs to early stop of CelebA attribute, identity and both "
                 f"(multitask) classifiers. {_PAIRING}"),
            Grid(multi, _nulls(multi))]


def _epoch_comparison(inp: ReportInput) -> list[Block]:
    epochs = compare_energy_per_epoch(inp.tables.get("energy_per_epoch"), inp.reference, dict(inp.pairs))
    return [Heading(COMPARISON_TITLES["energy_per_epoch"], 3),
            Text("Mean energy per epoch (mWh) per batch size and learning rate; each cell reads published / "
                 "measured. The study computed it with its eq. 1 (mean sampled power x epoch time, Carbontracker's "
                 "samples; one-second sampling in the workshop version, `meter.period_s: study`); the measured value "
                 "is energybench's authoritative energy (counter), followed by eq. 1 from this run's samples, its "
                 "ratio to the published value and its ratio to the counter. Decimal points "
                 f"lost in the workshop text are restored (`results/reference/README.md`). {_PAIRING}"),
            *_matrices(epochs)]


_COMPARISONS = {"freeze_savings": _freeze_comparison, "multitask": _multitask_comparison,
                "energy_per_epoch": _epoch_comparison}


def _figure_family(name: str) -> str | None:
    from .figures import FIGURES

    return max((f for f in FIGURES if name == f or name.startswith(f"{f}_")), key=len, default=None)


def _finding_links(f: Finding, inp: ReportInput, figures: set[str]) -> tuple[tuple[str, str], ...]:
    """Links of one finding: its table, its figures that were drawn, and its published comparison."""
    links = []
    if f.table and f.table in inp.tables:
        links.append(("table", "#" + anchor(table_heading(f.table))))
    links += [(FIGURE_LABELS.get(_figure_family(n) or "", "figure"), "#" + anchor(figure_heading(n)))
              for n in f.figures if n in figures]
    section = next((s for s in SECTIONS if f.table in s.tables and s.comparison), None)
    if section and inp.reference is not None:
        links.append(("published", "#" + anchor(COMPARISON_TITLES[section.comparison])))
    return tuple(links)


def _items(findings: Sequence[Finding], inp: ReportInput, figures: set[str]) -> Items:
    return Items(tuple(Item(TOPICS[f.topic], f.text, _finding_links(f, inp, figures), f.missing) for f in findings))


def _hero_figures(findings: Sequence[Finding], inp: ReportInput) -> tuple[Image, ...]:
    """The energy-per-epoch heatmap of the first dataset x hardware and the total energy per setup."""
    by_name = {Path(src).stem: src for src in inp.figures}
    wanted = [n for f in findings if f.topic == "cheapest" for n in f.figures if n != "total_energy"][:1]
    if not wanted or wanted[0] not in by_name:  # no finding names a drawn heatmap: take the first drawn one
        wanted = sorted(n for n in by_name if _figure_family(n) == "energy_per_epoch")[:1]
    return tuple(Image(by_name[n], _caption(n), "#" + anchor(figure_heading(n)))
                 for n in [*wanted, "total_energy"] if n in by_name)


def _caption(name: str) -> str:
    """``Fig. 3: energy_per_epoch_pamap2_cpu``: the study's figure number (from the family's doc) and the name."""
    from .figures import FIGURES

    family = _figure_family(name)
    about = _first_line(FIGURES[family].__doc__) if family else None
    if not about or ":" not in about:
        return name
    return f"{about.partition(':')[0]}: {name}"


def _findings_block(inp: ReportInput, findings: Sequence[Finding]) -> Findings:
    drawn = {Path(s).stem for s in inp.figures}
    return Findings(FINDINGS_NOTE, _items(findings, inp, drawn), _hero_figures(findings, inp))


def _table_blocks(name: str, inp: ReportInput) -> list[Block]:
    from .tables import TABLES

    frame = inp.tables[name]
    about = _first_line(TABLES[name].__doc__) if name in TABLES else None
    blocks: list[Block] = [Heading(table_heading(name), 3),
                           Text(f"{about or 'A table of this results directory.'} {frame.height} rows.")]
    if inp.table_files.get(name):
        blocks.append(Links(tuple((Path(f).suffix.lstrip("."), f) for f in inp.table_files[name])))
    if frame.height:
        shown = frame.head(MAX_ROWS)
        blocks.append(Grid(shown, total_rows=frame.height if frame.height > shown.height else None))
    return blocks


def _figure_blocks(src: str, inp: ReportInput) -> list[Block]:
    from .figures import FIGURES

    name = Path(src).stem
    family = _figure_family(name)
    about = _first_line(FIGURES[family].__doc__) if family else None
    blocks: list[Block] = [Heading(figure_heading(name), 3), *([Text(about)] if about else []), Image(src, name)]
    if inp.figure_files.get(name):
        blocks.append(Links(tuple((Path(f).suffix.lstrip("."), f) for f in inp.figure_files[name])))
    return blocks


def _sections(inp: ReportInput, findings: Sequence[Finding]) -> list[Block]:
    from .figures import FIGURES

    figures = {Path(s).stem for s in inp.figures}
    families = list(FIGURES)

    def order(src: str) -> tuple[int, str]:
        family = _figure_family(Path(src).stem)
        return (families.index(family) if family else len(families), src)

    blocks: list[Block] = []
    for s in SECTIONS:
        mine = [f for f in findings if f.table in s.tables]
        blocks += [Heading(s.title, 2), *([_items(mine, inp, figures)] if mine else [])]
        for name in s.tables:
            blocks += _table_blocks(name, inp) if name in inp.tables else [
                Text(f"No `{name}` table: run `energybench collect DIR` first.")]
        if s.comparison:
            blocks += _COMPARISONS[s.comparison](inp) if inp.reference is not None else [
                Text(inp.reference_note or "No published values.")]
        shown = sorted((src for src in inp.figures if _figure_family(Path(src).stem) in s.figures), key=order)
        for src in shown:
            blocks += _figure_blocks(src, inp)
        if s.figures and not shown:
            blocks.append(Text("No figure here: run `energybench figures DIR` first (a figure without data is "
                               "not drawn)."))
    blocks += _search_blocks(inp, order)
    claimed_tables = {t for s in SECTIONS for t in s.tables} | {"conversions", *SEARCH_TABLES}  # own sections
    other_tables = sorted(set(inp.tables) - claimed_tables)
    if other_tables:
        blocks.append(Heading("Other tables", 2))
        for name in other_tables:
            blocks += _table_blocks(name, inp)
    claimed = {f for s in SECTIONS for f in s.figures} | {"search"}
    other_figures = sorted((src for src in inp.figures if _figure_family(Path(src).stem) not in claimed), key=order)
    if other_figures:
        blocks.append(Heading("Other figures", 2))
        for src in other_figures:
            blocks += _figure_blocks(src, inp)
    blocks += _claims_section(inp) + choices_blocks(inp.choices)
    blocks += boundary_blocks(inp.runs, inp.epochs) + conversions_blocks(dict(inp.tables))
    blocks.append(Heading("Published values and hardware pairing", 2))
    if inp.reference is None:
        return blocks + [Text(inp.reference_note or "No published values.")]
    return blocks + [Text(_hardware_text(inp.reference, inp.tables, inp.pairs))]


def _search_blocks(inp: ReportInput, order: Callable[[str], tuple[int, str]]) -> list[Block]:
    """The search's section: what it spent against the full grid's estimated energy, per rung."""
    cost = inp.tables.get("search_cost")
    if cost is None:
        return []
    lines = []
    for r in cost.iter_rows(named=True):
        share = f"{100 * r['share_frac']:.0f} %" if r["share_frac"] is not None else "an unknown share"
        chosen = (f"setup {r['chosen_setup']} ({r['chosen_energy_to_threshold_wh']:.4g} Wh to the threshold)"
                  if r["chosen_setup"] is not None else "no setup that reached the threshold")
        lines.append(f"{r['paradigm']} on {r['hardware']}: the search spent {r['search_energy_wh']:.4g} Wh, "
                     f"{share} of the full grid's estimated {r['full_grid_estimate_wh']:.4g} Wh (the pruned runs' "
                     f"measured epochs plus the forecast of the rest to their early stop); {r['pruned']} of "
                     f"{r['runs']} runs pruned; it chose {chosen}.")
    blocks: list[Block] = [Heading("Search", 2), Text(" ".join(lines))]
    for name in SEARCH_TABLES:
        if name in inp.tables:
            blocks += _table_blocks(name, inp)
    for src in sorted((src for src in inp.figures if _figure_family(Path(src).stem) == "search"), key=order):
        blocks += _figure_blocks(src, inp)
    return blocks


def _claims_section(inp: ReportInput) -> list[Block]:
    """Every published numeric claim beside its measured value (:mod:`energybench.claims`)."""
    if inp.reference is None or not (inp.reference.dir / CLAIMS_FILE).is_file():
        return claims_blocks(None, inp.reference_note or f"No published claims: no {CLAIMS_FILE} in the reference.")
    checked = check_claims(load_claims(inp.reference.dir), inp.tables, inp.reference.published_hardware(),
                           dict(inp.pairs))
    return claims_blocks(checked)


def build_report(inp: ReportInput) -> list[Block]:
    """The report as blocks: findings beside the key figures, contents, one section per question, the rest."""
    findings = compute_findings(inp.tables, inp.runs, inp.reference, inp.pairs)
    return [Heading(inp.title, 1), _findings_block(inp, findings), Contents(), *_workload_blocks(inp),
            *_sections(inp, findings)]


def _workload_blocks(inp: ReportInput) -> list[Block]:
    """What was trained: each workload, where it came from, its extra grid axes, and commands without epoch marks.

    Shown only when a run is not a built-in or the grid has extra axes (the study's report stays as it was).
    """
    runs = inp.runs
    if runs is None or runs.height == 0 or "workload_source" not in runs.columns:
        return []
    plain = runs["workload_source"].fill_null("built-in").eq("built-in").all()
    if plain and ("params" not in runs.columns or runs["params"].null_count() == runs.height):
        return []
    rows = []
    for name, part in sorted(runs.group_by("paradigm"), key=lambda kv: kv[0]):
        first = part.row(0, named=True)
        values = part["params"].drop_nulls().to_list() if "params" in part.columns else []
        axes = sorted({k for p in values for k in json.loads(p)})
        unmarked = part.filter(pl.col("epoch_marks").eq(False)).height if "epoch_marks" in part.columns else 0
        rows.append([f"`{name[0]}`", first.get("workload_kind") or "python", first.get("workload_source") or "built-in",
                     first.get("workload_version") or "—", ", ".join(axes) or "—", str(part.height),
                     f"{unmarked} without epoch marks: total-energy tables only" if unmarked else "every table"])
    return [Heading("Workloads", 2),
            Text("What the runs trained, where each workload came from (recorded in every run's `run.json` and "
                 "`runs.parquet`), the grid's extra axes, and the tables each can be in: a command that marks "
                 "no epochs has one row for the whole run, so it is in the total-energy tables, not in the "
                 "per-epoch ones."),
            Grid(pl.DataFrame(rows, schema=["workload", "kind", "source", "version", "extra axes", "runs", "tables"],
                              orient="row"))]


def render_report(inp: ReportInput) -> tuple[str, str]:
    """The report as (Markdown, HTML) text. Pure."""
    blocks = build_report(inp)
    return to_markdown(blocks), to_html(blocks, inp.title)


def parse_pairs(items: Sequence[str]) -> dict[str, str]:
    """``PUBLISHED=MEASURED`` options -> {published: measured}."""
    pairs = {}
    for item in items:
        published, sep, measured = item.partition("=")
        if not sep or not published.strip() or not measured.strip():
            raise ResultsError(f"--hardware {item!r}: expected PUBLISHED=MEASURED, e.g. h100=gpu-h100")
        pairs[published.strip()] = measured.strip()
    return pairs


def _read_tables(tables_dir: Path) -> tuple[dict[str, pl.DataFrame], dict[str, list[Path]]]:
    """Every table of ``tables_dir`` (Parquet preferred, else CSV) and its files."""
    files: dict[str, list[Path]] = {}
    for path in sorted(tables_dir.glob("*")):
        if path.suffix in (".csv", ".parquet") and path.is_file():
            files.setdefault(path.stem, []).append(path)
    tables = {}
    for name, paths in files.items():
        by_suffix = {p.suffix: p for p in paths}
        path = by_suffix.get(".parquet", by_suffix.get(".csv"))
        try:
            tables[name] = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path)
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise ResultsError(f"{path}: unreadable table ({type(exc).__name__}); run `energybench collect` "
                               "again") from None
    return tables, files


def write_report(results_dir: Path, reference_dir: Path | None = None,
                 pairs: Mapping[str, str] | None = None) -> tuple[Path, Path]:
    """Write ``DIR/report.md`` and ``DIR/report.html`` from ``DIR/tables`` and ``DIR/figures``; return both paths.

    ``reference_dir`` defaults to the repository's ``results/reference``; when
    that is absent (an installed copy) the report says so instead of comparing.
    """
    layout = ResultsLayout(results_dir)
    if not layout.tables_dir.is_dir():
        raise ResultsError(f"{layout.root}: no tables/ here; run `energybench collect {results_dir}` first")
    tables, table_files = _read_tables(layout.tables_dir)
    reference, note = None, None
    if reference_dir is not None or REFERENCE_DIR.is_dir():
        reference = load_reference(Path(reference_dir) if reference_dir is not None else REFERENCE_DIR)
        unknown = sorted(set(pairs or {}) - set(reference.published_hardware()))
        if unknown:
            raise ResultsError(f"--hardware {unknown[0]}=...: {unknown[0]!r} is not a published hardware; "
                               f"one of {', '.join(repr(h) for h in reference.published_hardware())}")
    else:
        note = f"No published values: {REFERENCE_DIR} is missing; pass --reference DIR."
    pngs = sorted(layout.figures_dir.glob("*.png")) if layout.figures_dir.is_dir() else []
    rel = lambda p: Path(os.path.relpath(p, layout.root)).as_posix()  # noqa: E731
    figure_files = {png.stem: [rel(p) for p in figure_paths(layout.figures_dir, png.stem) if p.is_file()]
                    for png in pngs}
    runs_path = DatasetPaths(layout.dataset_dir).runs
    runs = pl.read_parquet(runs_path) if runs_path.is_file() else None
    epochs_path = DatasetPaths(layout.dataset_dir).epochs
    epochs = pl.read_parquet(epochs_path) if epochs_path.is_file() else None
    md, page = render_report(ReportInput(
        title=f"energybench report: {layout.root.name}", tables=tables, reference=reference,
        figures=[rel(p) for p in pngs], runs=runs, figure_files=figure_files,
        table_files={name: [rel(p) for p in paths] for name, paths in table_files.items()}, pairs=dict(pairs or {}),
        reference_note=note, choices=read_choices(layout.root), epochs=epochs,
    ))
    md_path, html_path = layout.report, layout.report.with_suffix(".html")
    for path, text in ((md_path, md), (html_path, page)):
        with atomic_path(path) as tmp:
            tmp.write_text(text)
    return md_path, html_path
