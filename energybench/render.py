"""A report as a list of blocks, and the blocks as Markdown and as one HTML page.

The report's content is built in :mod:`energybench.report`; this module only
renders it, the same blocks into both formats, so report.md and report.html
say the same. The HTML page carries its CSS inline and has no scripts and no
external fonts; heading anchors are made as GitHub makes them, so a link
within the report works in both files.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import polars as pl

#: Rows of a table shown before the rest is folded away (HTML).
FOLD_ROWS = 8
NOTHING = "—"


@dataclass(frozen=True)
class Heading:
    text: str
    level: int


@dataclass(frozen=True)
class Text:
    """A paragraph; `backticks` mark code, ``[label](#anchor)`` links."""

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
    href: str | None = None  # where a click leads (a figure's section), else nowhere


@dataclass(frozen=True)
class Links:
    items: tuple[tuple[str, str], ...]  # (label, relative href or #anchor)


@dataclass(frozen=True)
class Item:
    """One finding as shown: its topic, its sentence and the links to where its numbers are."""

    label: str
    text: str  # `backticks` mark code
    links: tuple[tuple[str, str], ...] = ()  # (label, #anchor)
    missing: bool = False  # says what the tables cannot answer (shown muted)


@dataclass(frozen=True)
class Items:
    """Findings, consecutive ones of one topic under one label."""

    items: tuple[Item, ...]


@dataclass(frozen=True)
class Findings:
    """The opening block: the findings beside the figures that carry the study."""

    note: str  # what the findings are and where they come from
    items: Items
    figures: tuple[Image, ...]


@dataclass(frozen=True)
class Contents:
    """A table of contents of the headings that follow it, down to ``depth``."""

    depth: int = 3


Block = Heading | Text | Grid | Image | Links | Items | Findings | Contents


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


def anchor(text: str) -> str:
    """A heading's anchor as GitHub makes it (so links work in report.md too): `Table `x_y`` -> ``table-x_y``."""
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def heading_anchors(blocks: Sequence[Block]) -> list[str]:
    """The anchor of every heading in document order (Findings and Contents included), deduplicated as GitHub does."""
    seen: dict[str, int] = {}
    out = []
    for b in blocks:
        text = "Findings" if isinstance(b, Findings) else "Contents" if isinstance(b, Contents) else (
            b.text if isinstance(b, Heading) else None)
        if text is None:
            continue
        slug = anchor(text)
        out.append(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return out


def _text(frame: pl.DataFrame, null_text: Mapping[str, str]) -> list[list[str]]:
    return [[fmt(v) if v is not None else null_text.get(c, NOTHING) for c, v in zip(frame.columns, row)]
            for row in frame.iter_rows()]


def _md_links(links: Sequence[tuple[str, str]]) -> str:
    return " · ".join(f"[{label}]({href})" for label, href in links)


def _md_items(items: Items) -> list[str]:
    out: list[str] = []
    previous = None
    for item in items.items:
        if item.label != previous:
            out += [*([""] if out else []), f"**{item.label}**", ""]
            previous = item.label
        out.append(f"- {item.text}" + (f" ({_md_links(item.links)})" if item.links else ""))
    return out + [""]


def _md_contents(entries: Sequence[tuple[int, str, str]]) -> list[str]:
    return ["## Contents", ""] + [f"{'  ' * (level - 2)}- [{text}](#{a})" for level, text, a in entries] + [""]


def to_markdown(blocks: Sequence[Block]) -> str:
    """GitHub-flavoured Markdown (heading anchors as GitHub makes them)."""
    out: list[str] = []
    anchors = iter(heading_anchors(blocks))
    for i, b in enumerate(blocks):
        if isinstance(b, Heading):
            next(anchors)
            out += ["#" * b.level + " " + b.text, ""]
        elif isinstance(b, Findings):
            next(anchors)
            out += ["## Findings", "", b.note, "", *_md_items(b.items)]
            out += [f"[![{i.alt}]({i.src})]({i.href})" if i.href else f"![{i.alt}]({i.src})" for i in b.figures]
            out.append("")
        elif isinstance(b, Contents):
            next(anchors)
            out += _md_contents(_contents(blocks, i))
        elif isinstance(b, Items):
            out += _md_items(b)
        elif isinstance(b, Text):
            out += [b.text, ""]
        elif isinstance(b, Links):
            out += [_md_links(b.items), ""]
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


def _contents(blocks: Sequence[Block], at: int) -> list[tuple[int, str, str]]:
    """(level, text, anchor) of the headings the Contents block ``blocks[at]`` lists."""
    depth = blocks[at].depth  # type: ignore[union-attr]
    headed = [b for b in blocks if isinstance(b, (Heading, Findings, Contents))]
    position = headed.index(blocks[at])
    return [(b.level, b.text, a) for b, a in zip(headed[position + 1:], heading_anchors(blocks)[position + 1:])
            if isinstance(b, Heading) and 2 <= b.level <= depth]


_STYLE = """
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; margin: 0 auto;
       max-width: 1320px; padding: 0.3em 1.2em 3em; overflow-wrap: anywhere; }
h1 { font-size: 1.45em; margin: 0.3em 0 0.2em; }
h2 { font-size: 1.2em; margin: 1.6em 0 0.4em; padding-bottom: 0.1em; border-bottom: 1px solid #ddd; }
h3 { font-size: 1.02em; margin: 1.2em 0 0.3em; } h4 { font-size: 0.95em; margin: 1em 0 0.2em; }
a { color: #0b57a4; } code { background: #f1f1f1; padding: 0 0.2em; border-radius: 2px; font-size: 0.92em; }
.findings { display: flex; flex-wrap: wrap; gap: 0 2em; align-items: flex-start; }
.findings h2 { margin-top: 0.2em; }
.findings-text { flex: 1 1 30em; min-width: 0; }
.findings-figures { flex: 1 1 24em; min-width: 0; margin-top: 0.6em; }
.findings-figures figure { margin: 0 0 0.5em; }
.findings-figures img { max-width: 100%; max-height: 44vh; border: 1px solid #eee; }
.note { color: #555; font-size: 0.85em; margin: 0.2em 0 0.4em; }
dl.items { margin: 0.2em 0 0.6em; font-size: 0.93em; }
dl.items dt { font-weight: 600; margin-top: 0.5em; } dl.items dd { margin: 0.1em 0 0.15em 1em; }
dl.items dd.missing { color: #666; font-style: italic; }
.links { font-size: 0.85em; white-space: nowrap; }
nav.toc > ul { columns: 3 19em; column-gap: 2em; margin: 0.3em 0; padding-left: 1.1em; font-size: 0.9em; }
nav.toc li { break-inside: avoid; } nav.toc li ul { padding-left: 1.1em; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: 0.4em 0 0.8em; font-size: 0.8em; overflow-wrap: normal; }
th, td { border: 1px solid #ccc; padding: 0.15em 0.45em; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; white-space: normal; vertical-align: bottom; min-width: 3.5em; }
td.text { text-align: left; } td.none { color: #999; }
details { margin: -0.5em 0 1em; } summary { cursor: pointer; color: #0b57a4; font-size: 0.85em; }
img { max-width: 100%; height: auto; }
p > img { max-width: min(100%, 980px); }
@media print {
  body { max-width: none; padding: 0; font-size: 9.5pt; }
  a { color: inherit; text-decoration: none; } .links, summary { display: none; }
  h2, h3, h4 { break-after: avoid; } figure, img, tr, dd { break-inside: avoid; }
  img, .findings-figures img { max-height: 11cm; }
  .scroll { overflow: visible; }
  table { width: 100%; font-size: 6.5pt; overflow-wrap: anywhere; }
  th, td { white-space: normal; padding: 0.1em 0.2em; min-width: 0; }
}
"""


def _inline(text: str) -> str:
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text, quote=False))
    return re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r'<a href="\2">\1</a>', text)


def _html_links(links: Sequence[tuple[str, str]]) -> str:
    return " · ".join(f'<a href="{html.escape(h)}">{html.escape(label)}</a>' for label, h in links)


def _html_items(items: Items) -> str:
    out, previous = ['<dl class="items">'], None
    for item in items.items:
        if item.label != previous:
            out.append(f"<dt>{html.escape(item.label)}</dt>")
            previous = item.label
        extra = f' <span class="links">({_html_links(item.links)})</span>' if item.links else ""
        css = ' class="missing"' if item.missing else ""
        out.append(f"<dd{css}>{_inline(item.text)}{extra}</dd>")
    return "".join(out) + "</dl>"


def _html_table(frame: pl.DataFrame, null_text: Mapping[str, str]) -> str:
    kinds = ["text" if dt == pl.String else "" for dt in frame.dtypes]
    # A break opportunity after each underscore keeps long column names from widening the table.
    head = "".join(f"<th>{html.escape(c).replace('_', '_<wbr>')}</th>" for c in frame.columns)
    body = []
    for raw, shown in zip(frame.iter_rows(), _text(frame, null_text)):
        cells = "".join(f'<td class="{"none" if r is None else k}">{html.escape(s)}</td>'
                        for r, s, k in zip(raw, shown, kinds))
        body.append(f"<tr>{cells}</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _html_grid(b: Grid) -> str:
    """The table; a long one shows its first FOLD_ROWS rows and folds the whole of it into ``<details>``."""
    cut = f"the first {b.frame.height} of {b.total_rows} rows; all of them in the CSV file" if b.total_rows else ""
    if b.frame.height <= FOLD_ROWS:
        return _html_table(b.frame, b.null_text) + (f'<p class="note">({cut})</p>' if cut else "")
    summary = f"Show all {b.frame.height} rows" + (f" ({cut})" if cut else "")
    return (_html_table(b.frame.head(FOLD_ROWS), b.null_text) + f"<details><summary>{summary}</summary>"
            + _html_table(b.frame, b.null_text) + "</details>")


def _html_image(i: Image, *, caption: bool = False) -> str:
    img = f'<img src="{html.escape(i.src)}" alt="{html.escape(i.alt)}">'
    if i.href:
        img = f'<a href="{html.escape(i.href)}">{img}</a>'
    return f"<figure>{img}<figcaption>{html.escape(i.alt)}</figcaption></figure>" if caption else f"<p>{img}</p>"


def _html_contents(own: str, entries: Sequence[tuple[int, str, str]]) -> str:
    out, depth = [f'<nav class="toc"><h2 id="{own}">Contents</h2><ul>'], 2
    for i, (level, text, a) in enumerate(entries):
        if i and level > depth:
            out[-1] = out[-1].removesuffix("</li>") + "<ul>"
        elif level < depth:
            out.append("</ul></li>" * (depth - level))
        depth = level
        out.append(f'<li><a href="#{a}">{_inline(text)}</a></li>')
    out.append("</ul></li>" * (depth - 2) + "</ul></nav>")
    return "".join(out)


def to_html(blocks: Sequence[Block], title: str) -> str:
    """One self-contained page: inline CSS and tables, images by relative path, no scripts, no external fonts."""
    out = ["<!doctype html>", '<html lang="en">', '<head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{html.escape(title)}</title>", f"<style>{_STYLE}</style></head>", "<body>"]
    anchors = iter(heading_anchors(blocks))
    for i, b in enumerate(blocks):
        if isinstance(b, Heading):
            out.append(f'<h{b.level} id="{next(anchors)}">{_inline(b.text)}</h{b.level}>')
        elif isinstance(b, Findings):
            figures = "".join(_html_image(i, caption=True) for i in b.figures)
            out.append(f'<section class="findings"><div class="findings-text"><h2 id="{next(anchors)}">Findings'
                       f'</h2><p class="note">{_inline(b.note)}</p>{_html_items(b.items)}</div>'
                       f'<div class="findings-figures">{figures}</div></section>')
        elif isinstance(b, Contents):
            out.append(_html_contents(next(anchors), _contents(blocks, i)))
        elif isinstance(b, Items):
            out.append(_html_items(b))
        elif isinstance(b, Text):
            out.append(f"<p>{_inline(b.text)}</p>")
        elif isinstance(b, Links):
            out.append(f"<p>{_html_links(b.items)}</p>")
        elif isinstance(b, Image):
            out.append(_html_image(b))
        elif isinstance(b, Grid):
            out.append(_html_grid(b))
    out += ["</body>", "</html>", ""]
    return "\n".join(out)
