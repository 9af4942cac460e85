"""R-AUTH-2 tells a service that fails closed from one that fails open.

A service that takes a blank API key as it is starts, and answers 401 to everything: no
client can send a blank key (HTTP strips a field's surrounding whitespace), so it never
fails open. One that starts without a key and lets requests in (the mutant
`api-key-empty-fails-open`) does.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support import REFERENCE, run_suites

pytestmark = pytest.mark.stack

BLANK_KEY_TAKEN_AS_IT_IS = """description = "variant (must pass R-AUTH-2): a blank API key is taken as it is, so the service starts and refuses every request"
expects = ["R-AUTH-2"]

[[edit]]
file = "refstack/auth/apikey.py"
old = "import functools\\n"
new = "import functools\\nimport os\\n"

[[edit]]
file = "refstack/auth/apikey.py"
old = "from refstack.common.settings import required\\n"
new = "from refstack.common.settings import SettingsError\\n"

[[edit]]
file = "refstack/auth/apikey.py"
old = "    return required(variable).encode()\\n"
new = '''    value = os.environ.get(variable)
    if not value:
        raise SettingsError(f"{variable} is not set; the service refuses to start without it")
    return value.encode()  # a blank key is a key: no client can send it
'''
"""


def test_a_service_that_starts_with_a_blank_key_and_refuses_everything_passes(
    tmp_path: Path,
) -> None:
    variant = tmp_path / "mutants" / "blank-api-key-taken-as-it-is"
    variant.mkdir(parents=True)
    (variant / "mutant.toml").write_text(BLANK_KEY_TAKEN_AS_IT_IS, "utf-8")
    run = run_suites(
        tmp_path / "reports",
        f"--profile={REFERENCE}",
        "--backend=process",
        f"--mutants-dir={variant.parent}",
        f"--mutant={variant.name}",
        "--requirement=R-AUTH-2",
    )
    assert run.covered() == {"R-AUTH-2": "pass"}, run.output[-3000:]
    evidence = [e for r in run.results["requirements"] for e in r["evidence"]]
    blank = next(e["data"] for e in evidence if e["label"] == "blank key")
    assert blank["started"], blank
    assert blank["fails"] == "closed", blank


def test_a_service_that_starts_without_a_key_and_lets_requests_in_fails(tmp_path: Path) -> None:
    run = run_suites(
        tmp_path / "reports",
        f"--profile={REFERENCE}",
        "--backend=process",
        "--mutant=api-key-empty-fails-open",
        "--requirement=R-AUTH-2",
    )
    assert run.covered() == {"R-AUTH-2": "fail"}, run.output[-3000:]
    assert "fails open" in run.output
    assert "let through" in run.output
