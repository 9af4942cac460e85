"""The override file as YAML: JSON (which is YAML) with Compose's merge tags where needed.

Compose merges an override into the file it overrides; `!override` replaces a value instead
(the ports a service publishes, the networks it joins) and `!reset` removes one (a fixed
`container_name`, which two stacks could not share). JSON has no tags, but YAML's flow
style, which JSON is, takes a tag before any value: `{"ports": !override [...]}`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Tagged:
    tag: str  # "!override" or "!reset"
    value: Any


def override(value: Any) -> Tagged:
    return Tagged("!override", value)


def reset() -> Tagged:
    return Tagged("!reset", None)


def dumps(document: Any, indent: int = 0) -> str:
    """`document` as YAML in flow style; Tagged values carry their tag."""
    pad = "  " * (indent + 1)
    if isinstance(document, Tagged):
        return f"{document.tag} {dumps(document.value, indent)}"
    if isinstance(document, dict):
        if not document:
            return "{}"
        items = [f"{pad}{json.dumps(str(k))}: {dumps(v, indent + 1)}" for k, v in document.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * indent + "}"
    if isinstance(document, list | tuple):
        if not document:
            return "[]"
        items = [f"{pad}{dumps(v, indent + 1)}" for v in document]
        return "[\n" + ",\n".join(items) + "\n" + "  " * indent + "]"
    return json.dumps(document)
