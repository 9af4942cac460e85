"""`{{ dotted.name }}` placeholders in profile run settings and config templates.

Double braces, because the files being rendered (nginx configs, shell lines) use single
braces and `$name` themselves. An unknown name is an error that lists what is known, so a
typo in a profile is reported before anything starts instead of reaching a server as text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][\w-]*(?:\.[\w-]+)*)\s*\}\}")

Context = Mapping[str, Any]


class TemplateError(KeyError):
    """A placeholder names something the context does not have."""

    def __str__(self) -> str:
        return str(self.args[0])


def _lookup(context: Context, dotted: str) -> str:
    node: Any = context
    walked: list[str] = []
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            known = ", ".join(sorted(node)) if isinstance(node, Mapping) else "nothing"
            where = ".".join(walked) or "the top level"
            raise TemplateError(
                f"unknown placeholder {{{{ {dotted} }}}}: {part!r} is not in {where} "
                f"(known there: {known})"
            )
        node = node[part]
        walked.append(part)
    if isinstance(node, Mapping):
        raise TemplateError(f"placeholder {{{{ {dotted} }}}} names a group, not a value")
    return str(node)


def render(text: str, context: Context) -> str:
    """Replace every placeholder in `text`; raise TemplateError on the first unknown one."""
    return PLACEHOLDER.sub(lambda match: _lookup(context, match.group(1)), text)


def placeholders(text: str) -> list[str]:
    """The dotted names `text` refers to, in order of appearance."""
    return [match.group(1) for match in PLACEHOLDER.finditer(text)]
