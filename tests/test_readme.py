"""The README stays true: its schema section is the contract, its commands exist."""

from __future__ import annotations

import re

from energybench.cli import cli
from energybench.schema import markdown

from .conftest import REPO


def test_readme_schema_section_is_the_contract() -> None:
    text = (REPO / "README.md").read_text()
    block = text.split("<!-- schema:begin -->\n")[1].split("<!-- schema:end -->")[0]
    assert block == markdown(), "regenerate with: python -m energybench.schema"


def test_readme_leads_with_the_two_commands_and_lists_every_cli_command() -> None:
    text = (REPO / "README.md").read_text()
    assert text.index("make demo") < text.index("## CLI") and "make test" in text
    for name in cli.commands:
        assert re.search(rf"energybench {name}\b", text), name
