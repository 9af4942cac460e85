"""What a remote backend cannot give skips, saying what would enable it; it never fails.

The running reference stack, described as a staging profile that also names its API key
and its OAuth flow: the remote backend holds none of the stack's secrets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support import run_suites
from test_remote_backend import running_stack, staging_profile

pytestmark = pytest.mark.stack

__all__ = ["running_stack"]  # the module-scoped fixture: one running stack for these tests

WITH_AUTH = """
secrets = ["auth_api_key", "oauth_context_key", "anilist_token_canary"]

[services.anilist]
kind = "app"
ports = ["http"]

[auth]
service = "auth"
api_key_secret = "auth_api_key"
api_key_env = "AUTH_API_KEY"
admin_path = "/auth/admin/links"

[auth.oauth]
context_key_secret = "oauth_context_key"
token_canary_secret = "anilist_token_canary"
database = "postgres"
expired_state_sql = "SELECT 1"
state_lifetime_sql = "SELECT 1"
"""


def test_checks_that_need_the_stacks_secrets_skip_on_remote(
    running_stack: dict[str, Any], tmp_path: Path
) -> None:
    base = staging_profile(running_stack)
    top, _, rest = base.partition("\n[stack]")
    profile = tmp_path / "staging.toml"
    profile.write_text(top + WITH_AUTH + "\n[stack]" + rest, "utf-8")
    run = run_suites(tmp_path / "reports", f"--profile={profile}", "-k", "api_key or oauth")
    tests = {
        t["nodeid"].rsplit("::", 1)[-1]: t for r in run.results["requirements"] for t in r["tests"]
    }
    key = tests["test_admin_route_needs_the_exact_api_key"]
    assert key["outcome"] == "skip", key
    assert "holds no API key" in key["message"]
    assert "to enable" in key["message"]
    oauth = [t for name, t in tests.items() if "oauth" in t["nodeid"]]
    assert oauth
    for test in oauth:
        assert test["outcome"] == "skip", test
        assert "to enable" in test["message"], test
