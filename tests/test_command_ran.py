"""A hand-started service whose command never ran is the harness's error, not a finding."""

from __future__ import annotations

import subprocess

import pytest

from stackproof.checks.started import require_command_ran
from stackproof.errors import PreconditionError


def test_a_command_that_never_ran_is_an_error_naming_it() -> None:
    # env's own answer when its option parsing took '--' for the command (seen on compose).
    done = subprocess.run(
        ["env", "API_KEY=", "--", "true"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 127
    with pytest.raises(PreconditionError, match=r"auth with the key empty: .*exit 127: not found"):
        require_command_ran(done.returncode, done.stderr, "auth with the key empty")


@pytest.mark.parametrize("code", [None, 0, 1, 2, 78])
def test_a_service_that_ran_and_exited_or_kept_running_is_judged(code: int | None) -> None:
    require_command_ran(code, "AUTH_API_KEY is not set", "auth")  # raises nothing
