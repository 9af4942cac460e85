"""The requirement catalog and `{{ placeholder }}` rendering."""

from __future__ import annotations

import pytest

from stackproof.catalog import by_id, catalog, parse_catalog
from stackproof.profile.template import TemplateError, placeholders, render


def test_the_catalog_has_every_suite_and_stable_ids() -> None:
    requirements = catalog()
    assert len(requirements) == 56
    assert requirements[0].id == "R-TLS-1"
    assert requirements[-1].id == "R-HOST-6"
    assert {r.suite for r in requirements} == {
        "tls",
        "headers",
        "health",
        "auth",
        "redaction",
        "rollback",
        "backup",
        "chaos",
        "host",
    }
    assert by_id()["R-HLT-2"].title.startswith("Readiness (/readyz) answers 200 only when")
    assert "(000" not in by_id()["R-HLT-1"].text, "seed references are not requirement text"


def test_a_repeated_id_is_refused() -> None:
    text = "## TLS (suite `tls`)\n- **R-TLS-1** One.\n- **R-TLS-1** Two.\n"
    with pytest.raises(ValueError, match="repeats R-TLS-1"):
        parse_catalog(text)


def test_render_fills_nested_names_and_leaves_single_braces_alone() -> None:
    context = {"link": {"db": {"url": "postgresql://x"}}, "port": {"http": "8080"}}
    text = "server { listen {{ port.http }}; } # {{link.db.url}} ${var}"
    assert render(text, context) == "server { listen 8080; } # postgresql://x ${var}"
    assert placeholders(text) == ["port.http", "link.db.url"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ link.cache.url }}", "'cache' is not in link (known there: db)"),
        ("{{ link }}", "names a group, not a value"),
        ("{{ nothing }}", "'nothing' is not in the top level"),
    ],
)
def test_unknown_placeholders_say_what_is_known(text: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message.replace("(", r"\(").replace(")", r"\)")):
        render(text, {"link": {"db": {"url": "u"}}})
