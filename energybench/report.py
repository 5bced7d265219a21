"""``energybench report DIR``: every table and figure, and the side-by-side with the study.

:func:`render_report` is pure: (tables, published values, figure paths) ->
Markdown and HTML text, through one list of blocks so both say the same.
:func:`write_report` is the I/O edge: it reads ``DIR/tables`` (every table
there, also ones added by other tools, e.g. ``estimate_evaluation``), lists
``DIR/figures`` and writes ``DIR/report.md`` and ``DIR/report.html`` (HTML
tables inline, images by relative path, so the folder can be moved or opened
in a browser as it is).
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from .errors import ResultsError
from .paths import DatasetPaths, ResultsLayout, atomic_path, figure_paths
from .reference import REFERENCE_DIR, Reference, compare_energy_per_epoch, compare_freeze_savings, \
    compare_multitask, load_reference, match_hardware

#: Rows shown per table; the rest are in the table's CSV file.
MAX_ROWS = 200
NOT_MEASURED, NOT_PUBLISHED, NOTHING = "not measured", "not published", "—"
_DATASET_TITLES = {"pamap2": "PAMAP2", "celeba": "CelebA"}


@dataclass(frozen=True)
class Heading:
    text: str
    level: int


@dataclass(frozen=True)
class Text:
    """A paragraph; `backticks` mark code."""

    text: str


@dataclass(frozen=True)
class Grid:
    """A table; ``null_text`` says what a missing value of a column means (default: a dash)."""

    frame: pl.DataFrame
    null_text: Mapping[str, str] = field(default_factory=dict)
    total_rows: int | None = None  # when ``frame`` shows only the first rows


@dataclass(frozen=True)
class Image:
    src: str  # relative to the report
    alt: str


@dataclass(frozen=True)
class Links:
    items: tuple[tuple[str, str], ...]  # (label, relative href)


Block = Heading | Text | Grid | Image | Links


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


def fmt(value: object) -> str:
    """A cell: floats to about 4 significant digits (2 decimals from 1 up), thousands separated."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != value:  # NaN
            return "NaN"
        a = abs(value)
        if a >= 10_000:
            return f"{value:,.0f}"
        if a >= 1 or a == 0:
            return f"{value:.2f}"
        return f"{value:.3g}"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    return str(value)


def _first_line(doc: str | None) -> str | None:
    return doc.strip().split("\n\n")[0].replace("\n", " ") if doc else None


def _summary(runs: pl.DataFrame) -> list[Block]:
    from .status import STATES

    counts = dict(runs.group_by("status").len().iter_rows())
    states = ", ".join(f"{counts[s]} {s}" for s in STATES if s in counts)
    meters = sorted(runs["meter"].drop_nulls().unique())
    lines = [f"{runs.height} runs ({states}); hardware: {', '.join(sorted(runs['hardware'].unique()))}; "
             f"meters: {', '.join(f'`{m}`' for m in meters)}."]
    if "estimate" in meters:
        lines.append("Energy from the `estimate` meter is a model (TDP x utilisation), not a measurement.")
    if "synthetic" in meters:
        lines.append("Energy from the `synthetic` meter is a test trace, not a measurement.")
    if runs["data_synthetic"].any():
        lines.append("Some runs trained on generated data, not the published datasets.")
    return [Text(" ".join(lines))]


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
            blocks += [Text(f"{title}: mWh per epoch, published / measured (measured / published)"),
                       Grid(pl.DataFrame(rows))]
    return blocks


def _cell(r: Mapping[str, object]) -> str:
    pub, mine, ratio = (r.get(k) for k in ("published_epoch_energy_mwh", "epoch_energy_mean_mwh", "epoch_energy_ratio"))
    text = f"{fmt(pub) if pub is not None else NOTHING} / {fmt(mine) if mine is not None else NOT_MEASURED}"
    return text + (f" ({ratio:.2f}x)" if isinstance(ratio, float) else "")


def _comparison(inp: ReportInput) -> list[Block]:
    blocks: list[Block] = [Heading("Comparison with the published study", 2)]
    if inp.reference is None:
        return blocks + [Text(inp.reference_note or "No published values.")]
    ref, pairs = inp.reference, dict(inp.pairs)
    blocks.append(Text(_hardware_text(ref, inp.tables, pairs)))
    freeze = compare_freeze_savings(inp.tables.get("freeze_savings"), ref, pairs)
    blocks += [
        Heading("Frozen vs fine-tuned pretrained encoder (journal Table 2, workshop Table 3)", 3),
        Text("Mean energy (Wh) of a classifier on the pretrained encoder, frozen or fine-tuned (unfrozen), and "
             "the saving 1 - frozen / unfrozen. The journal's Table 2 prints its two rows swapped (\"Freeze\" on "
             "the larger energy) while its text and its savings (1 - smaller / larger) say freezing saves: the "
             "published columns hold the values as the text means them (`published_rows_swapped` marks them)."),
        Grid(freeze, _nulls(freeze)),
    ]
    multi = compare_multitask(inp.tables.get("multitask"), ref, pairs)
    blocks += [
        Heading("Multitask (journal Table 3)", 3),
        Text("Mean energy per epoch (mWh) and mean epochs to early stop of CelebA attribute, identity and both "
             "(multitask) classifiers."),
        Grid(multi, _nulls(multi)),
    ]
    epochs = compare_energy_per_epoch(inp.tables.get("energy_per_epoch"), ref, pairs)
    blocks += [
        Heading("Energy per epoch (workshop Table 2)", 3),
        Text("Mean energy per epoch (mWh) per batch size and learning rate; each cell reads published / measured. "
             "The study computed it with its eq. 1 (mean power x epoch time); the measured value is energybench's "
             "authoritative energy (`energy_per_epoch.csv` has eq. 1 beside it). Decimal points lost in the "
             "workshop text are restored (`results/reference/README.md`)."),
        *_matrices(epochs),
    ]
    return blocks


def _table_blocks(inp: ReportInput) -> list[Block]:
    from .tables import TABLES

    blocks: list[Block] = [Heading("Tables", 2)]
    if not inp.tables:
        return blocks + [Text("No tables: run `energybench collect DIR` first.")]
    for name in sorted(inp.tables, key=lambda n: (n not in TABLES, list(TABLES).index(n) if n in TABLES else 0, n)):
        frame = inp.tables[name]
        blocks.append(Heading(name, 3))
        about = _first_line(TABLES[name].__doc__) if name in TABLES else None
        blocks.append(Text(f"{about or 'A table of this results directory.'} {frame.height} rows."))
        if inp.table_files.get(name):
            blocks.append(Links(tuple((Path(f).suffix.lstrip("."), f) for f in inp.table_files[name])))
        if frame.height:
            shown = frame.head(MAX_ROWS)
            blocks.append(Grid(shown, total_rows=frame.height if frame.height > shown.height else None))
    return blocks


def _figure_family(name: str) -> str | None:
    from .figures import FIGURES

    return max((f for f in FIGURES if name == f or name.startswith(f"{f}_")), key=len, default=None)


def _figure_blocks(inp: ReportInput) -> list[Block]:
    from .figures import FIGURES

    blocks: list[Block] = [Heading("Figures", 2)]
    if not inp.figures:
        return blocks + [Text("No figures: run `energybench figures DIR` first.")]
    families = list(FIGURES)

    def order(src: str) -> tuple[int, str]:
        family = _figure_family(Path(src).stem)
        return (families.index(family) if family else len(families), src)

    for src in sorted(inp.figures, key=order):
        name = Path(src).stem
        family = _figure_family(name)
        blocks.append(Heading(name, 3))
        about = _first_line(FIGURES[family].__doc__) if family else None
        if about:
            blocks.append(Text(about))
        blocks.append(Image(src, name))
        if inp.figure_files.get(name):
            blocks.append(Links(tuple((Path(f).suffix.lstrip("."), f) for f in inp.figure_files[name])))
    return blocks


def build_report(inp: ReportInput) -> list[Block]:
    """The report as blocks: summary, comparison with the study, every table, every figure."""
    blocks: list[Block] = [Heading(inp.title, 1)]
    if inp.runs is not None and inp.runs.height:
        blocks += _summary(inp.runs)
    return blocks + _comparison(inp) + _table_blocks(inp) + _figure_blocks(inp)


def _text(frame: pl.DataFrame, null_text: Mapping[str, str]) -> list[list[str]]:
    return [[fmt(v) if v is not None else null_text.get(c, NOTHING) for c, v in zip(frame.columns, row)]
            for row in frame.iter_rows()]


def to_markdown(blocks: Sequence[Block]) -> str:
    """GitHub-flavoured Markdown."""
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            out += ["#" * b.level + " " + b.text, ""]
        elif isinstance(b, Text):
            out += [b.text, ""]
        elif isinstance(b, Links):
            out += [" · ".join(f"[{label}]({href})" for label, href in b.items), ""]
        elif isinstance(b, Image):
            out += [f"![{b.alt}]({b.src})", ""]
        elif isinstance(b, Grid):
            cell = lambda s: s.replace("|", "\\|").replace("\n", " ")  # noqa: E731
            out.append("| " + " | ".join(cell(c) for c in b.frame.columns) + " |")
            out.append("|" + "---|" * len(b.frame.columns))
            out += ["| " + " | ".join(cell(v) for v in row) + " |" for row in _text(b.frame, b.null_text)]
            if b.total_rows:
                out.append(f"\n(first {b.frame.height} of {b.total_rows} rows; all of them in the CSV file)")
            out.append("")
    return "\n".join(out)


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1400px; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; } td.text { text-align: left; } td.none { color: #999; }
.scroll { overflow-x: auto; } img { max-width: 100%; } code { background: #f3f3f3; padding: 0 0.2em; }
"""


def _inline(text: str) -> str:
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text, quote=False))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def to_html(blocks: Sequence[Block], title: str) -> str:
    """One self-contained page: inline CSS and tables, images by relative path."""
    out = ["<!doctype html>", '<html lang="en">', '<head><meta charset="utf-8">',
           f"<title>{html.escape(title)}</title>", f"<style>{_STYLE}</style></head>", "<body>"]
    ids: dict[str, int] = {}
    for b in blocks:
        if isinstance(b, Heading):
            slug = _slug(b.text)
            ids[slug] = ids.get(slug, 0) + 1  # a table and a figure may share a name
            anchor = slug if ids[slug] == 1 else f"{slug}-{ids[slug]}"
            out.append(f'<h{b.level} id="{anchor}">{_inline(b.text)}</h{b.level}>')
        elif isinstance(b, Text):
            out.append(f"<p>{_inline(b.text)}</p>")
        elif isinstance(b, Links):
            out.append("<p>" + " · ".join(f'<a href="{html.escape(h)}">{html.escape(label)}</a>'
                                          for label, h in b.items) + "</p>")
        elif isinstance(b, Image):
            out.append(f'<p><img src="{html.escape(b.src)}" alt="{html.escape(b.alt)}" loading="lazy"></p>')
        elif isinstance(b, Grid):
            kinds = ["text" if dt == pl.String else "" for dt in b.frame.dtypes]
            head = "".join(f"<th>{html.escape(c)}</th>" for c in b.frame.columns)
            body = []
            for raw, shown in zip(b.frame.iter_rows(), _text(b.frame, b.null_text)):
                cells = "".join(f'<td class="{"none" if r is None else k}">{html.escape(s)}</td>'
                                for r, s, k in zip(raw, shown, kinds))
                body.append(f"<tr>{cells}</tr>")
            out.append(f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}'
                       "</tbody></table></div>")
            if b.total_rows:
                out.append(f"<p>(first {b.frame.height} of {b.total_rows} rows; all of them in the CSV file)</p>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


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
    md, page = render_report(ReportInput(
        title=f"energybench report: {layout.root.name}", tables=tables, reference=reference,
        figures=[rel(p) for p in pngs], runs=runs, figure_files=figure_files,
        table_files={name: [rel(p) for p in paths] for name, paths in table_files.items()}, pairs=dict(pairs or {}), reference_note=note,
    ))
    md_path, html_path = layout.report, layout.report.with_suffix(".html")
    for path, text in ((md_path, md), (html_path, page)):
        with atomic_path(path) as tmp:
            tmp.write_text(text)
    return md_path, html_path
