"""The README and docs/ stay true: the schema doc is the contract, commands, modules, config keys and
links they name exist."""

from __future__ import annotations

import importlib.util
import re

from typing import Any

import click
from pydantic import BaseModel

from energybench.cli import cli
from energybench.config import Experiment
from energybench.schema import markdown
from energybench.slurm.profile import HardwareProfile, Profile

from .conftest import REPO

DOCS = sorted((REPO / "docs").glob("*.md"))
PAGES = [REPO / "README.md", REPO / "results" / "README.md", *DOCS]


def test_schema_doc_is_the_contract() -> None:
    text = (REPO / "docs" / "schema.md").read_text()
    block = text.split("<!-- schema:begin -->\n")[1].split("<!-- schema:end -->")[0]
    assert block == markdown(), "regenerate with: python -m energybench.schema"


def _commands(group: click.Group, prefix: str = "energybench") -> dict[str, click.Command]:
    out: dict[str, click.Command] = {}
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            out |= _commands(cmd, f"{prefix} {name}")
        else:
            out[f"{prefix} {name}"] = cmd
    return out


def test_readme_leads_with_the_two_commands_and_lists_every_cli_command() -> None:
    text = (REPO / "README.md").read_text()
    assert text.index("make demo") < text.index("## CLI") and "make test" in text
    table = text.split("## CLI")[1].split("\n## ")[0]
    commands = _commands(cli)
    assert "energybench estimate fit" in commands
    for name, cmd in commands.items():
        rows = "\n".join(re.findall(rf"^\| `{name}\b.*$", table, re.MULTILINE))
        assert rows, f"{name}: no row in the README's CLI table"
        for opt in (o for p in cmd.params if isinstance(p, click.Option) for o in p.opts if o.startswith("--")):
            assert opt in rows, f"{name} {opt}: not in the README's CLI table"


def test_readme_fits_on_a_screen_or_two() -> None:
    size = len((REPO / "README.md").read_bytes())
    assert size <= 10 * 1024, f"README.md is {size} bytes; move reference material into docs/"


def _slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    return re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", heading.strip().lower()))


def test_links_of_the_readme_and_docs_resolve() -> None:
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+://", target):
                continue
            file, _, anchor = target.partition("#")
            path = (page.parent / file).resolve() if file else page
            if not path.exists():
                broken.append(f"{page.relative_to(REPO)}: {target}")
            elif anchor and path.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", path.read_text(), re.MULTILINE)
                if anchor not in {_slug(h) for h in headings}:
                    broken.append(f"{page.relative_to(REPO)}: {target} (no such heading)")
    assert not broken, broken


def test_modules_the_readme_and_docs_name_exist() -> None:
    missing = []
    for page in PAGES:
        text = page.read_text()
        for ref in re.findall(r"(?<![\w/.~-])energybench/[A-Za-z0-9_./*-]*[A-Za-z0-9_/*]", text):
            found = list(REPO.glob(ref)) if "*" in ref else [REPO / ref] if (REPO / ref).exists() else []
            if not found:
                missing.append(f"{page.relative_to(REPO)}: {ref}")
        for mod in re.findall(r"python -m (energybench(?:\.\w+)*)", text):
            if importlib.util.find_spec(mod) is None:
                missing.append(f"{page.relative_to(REPO)}: python -m {mod}")
    assert not missing, missing


def _model(annotation: Any) -> type[BaseModel] | None:
    for a in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(a, type) and issubclass(a, BaseModel):
            return a
    return None


def _fields(model: type[BaseModel], prefix: str = "") -> dict[str, Any]:
    """Every key of a config, dotted, with its default ("required" when it has none; None for sections)."""
    out: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        sub = _model(field.annotation)
        if sub is not None:
            out[key] = "required" if field.is_required() else (None if field.default is None else "section")
            out |= _fields(sub, f"{key}.")
        else:
            out[key] = "required" if field.is_required() else field.default
    return out


def _shown(default: Any) -> str:
    if default is None:
        return "none"
    if isinstance(default, bool):
        return str(default).lower()
    return str(default)


def test_config_doc_gives_every_key_with_its_default() -> None:
    rows = {m[0]: m[1].replace("`", "").strip()
            for m in re.findall(r"^\| `([\w.]+)` \|([^|]*)\|", (REPO / "docs" / "config.md").read_text(),
                                re.MULTILINE)}
    problems = []
    for key, default in _fields(Experiment).items():
        if key not in rows:
            problems.append(f"{key}: no row")
        elif default != "section" and rows[key] != _shown(default):
            problems.append(f"{key}: the doc says {rows[key]!r}, config.py {_shown(default)!r}")
    assert not problems, problems


def test_cluster_doc_lists_every_profile_key() -> None:
    text = (REPO / "docs" / "cluster.md").read_text()
    keys = [k for k in HardwareProfile.model_fields if k != "partition"]
    keys += [k for k in Profile.model_fields if k not in ("source", "hardware")] + ["defaults"]
    missing = [k for k in keys if not re.search(rf"^\| `{k}`", text, re.MULTILINE)]
    assert "hardware.<name>.partition" in text and not missing, missing
