"""R-TLS-4 on a TLS 1.3-only front: judged by what such a server can do.

Tickets off guards the forward secrecy of TLS 1.2 session tickets; a front that refuses
TLS 1.2 issues none. The cache on means sessions resume, which TLS 1.3 does with tickets
(stateful ones, looked up in the server's cache, when stateless tickets are off). So a
1.3-only front passes when TLS 1.2 is refused and its TLS 1.3 sessions resume, and fails
when they do not (the mutant `tls13-only-without-session-cache`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support import REFERENCE, ROOT, run_suites

pytestmark = pytest.mark.stack

MUTANT = "tls13-only-without-session-cache"


def _variant_keeping_the_cache(mutants: Path) -> str:
    """The mutant less its one fault: a 1.3-only front whose sessions do resume."""
    folder = mutants / "tls13-only"
    shutil.copytree(ROOT / "mutants" / MUTANT, folder)
    spec = folder / "mutant.toml"
    text = spec.read_text("utf-8")
    fault = '\n[[edit]]\nfile = "nginx/nginx.conf.template"\nold = "ssl_session_cache shared:TLS:10m;"\nnew = "ssl_session_cache off;"\n'
    assert fault in text
    spec.write_text(
        text.replace(fault, "").replace(
            'description = "', 'description = "variant (must pass R-TLS-4): '
        ),
        "utf-8",
    )
    return folder.name


def test_a_tls13_only_front_whose_sessions_resume_passes(tmp_path: Path) -> None:
    mutants = tmp_path / "mutants"
    name = _variant_keeping_the_cache(mutants)
    run = run_suites(
        tmp_path / "reports",
        f"--profile={REFERENCE}",
        "--backend=process",
        f"--mutants-dir={mutants}",
        f"--mutant={name}",
        "-k",
        "tls",
    )
    verdicts = run.covered()
    assert verdicts["R-TLS-4"] == "pass", run.output[-3000:]
    # R-TLS-8 judges database links that leave the host: on local processes none does.
    assert verdicts.pop("R-TLS-8") == "skip", verdicts
    assert set(verdicts.values()) == {"pass"}, verdicts


def test_a_tls13_only_front_whose_sessions_never_resume_fails(tmp_path: Path) -> None:
    run = run_suites(
        tmp_path / "reports",
        f"--profile={REFERENCE}",
        "--backend=process",
        f"--mutant={MUTANT}",
        "--requirement=R-TLS-4",
    )
    assert run.covered() == {"R-TLS-4": "fail"}, run.output[-3000:]
    assert "resume" in run.output
