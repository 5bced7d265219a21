"""Command templates: ``{placeholder}`` fields filled with shell-quoted values (no dependencies).

Used at validation time (a config's command workloads) and by the worker
(:mod:`energybench.worker.command`), which fills them for each run.
"""

from __future__ import annotations

import shlex
import string
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import ConfigError


class TemplateError(ConfigError):
    """A command template is malformed or names a placeholder nobody fills."""



def _fields(template: str) -> list[tuple[str, str | None, str | None, str | None]]:
    try:
        return list(string.Formatter().parse(template))
    except ValueError as exc:  # "Single '}' encountered", "unmatched '{'", ...
        raise TemplateError(f"command {template!r}: {exc} (write a literal brace as {{{{ or }}}})") from None


def placeholders(template: str) -> set[str]:
    """The ``{name}`` fields of ``template`` (``{{``/``}}`` are literal braces); TemplateError
    for a malformed template, a positional ``{}``, ``{a.b}``/``{a[0]}``, a conversion (``!r``)
    or a nested field in a format spec."""
    names: set[str] = set()
    for _, name, spec, conversion in _fields(template):
        if name is None:
            continue
        where = f"command {template!r}: placeholder {{{name}{'!' + conversion if conversion else ''}" \
                f"{':' + spec if spec else ''}}}"
        if not name.isidentifier():
            raise TemplateError(f"{where}: a placeholder is a plain name like {{batch_size}}"
                                + (" (no positional {})" if not name else ""))
        if conversion:
            raise TemplateError(f"{where}: conversions (!r, !s, !a) are not supported")
        if spec and ("{" in spec or "}" in spec):
            raise TemplateError(f"{where}: nested fields in a format spec are not supported")
        names.add(name)
    return names


def check_placeholders(template: str, known: Iterable[str]) -> None:
    """Raise :class:`TemplateError` naming every placeholder of ``template`` not in ``known``."""
    known = set(known)
    unknown = placeholders(template) - known
    if unknown:
        raise TemplateError(f"command {template!r}: unknown placeholder(s) "
                            f"{', '.join('{' + n + '}' for n in sorted(unknown))}; known: "
                            f"{', '.join('{' + n + '}' for n in sorted(known))}")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def fill(template: str, values: Mapping[str, Any]) -> str:
    """``template`` with each ``{name}`` replaced by ``shlex.quote(str(values[name]))`` (a format
    spec, ``{learning_rate:.0e}``, is applied before quoting; None fills as ``''``).

    Every value reaches the program as exactly one word, whatever it contains. A placeholder
    missing from ``values`` raises :class:`TemplateError`.
    """
    check_placeholders(template, values)
    out = []
    for literal, name, spec, _ in _fields(template):
        out.append(literal)
        if name is None:
            continue
        value = values[name]
        try:
            text = format(value, spec) if spec else _text(value)
        except (ValueError, TypeError) as exc:
            raise TemplateError(f"command {template!r}: {{{name}:{spec}}} cannot format {value!r}: {exc}") \
                from None
        out.append(shlex.quote(text))
    return "".join(out)

