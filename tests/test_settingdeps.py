"""A service restarted with a setting taken away runs so for the block and as its profile
says afterwards, also when it refused to start; a setting the service does not have is a
precondition, and nothing is restarted for it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from support import NOTES_EXAMPLE

from stackproof.backends.process import ProcessBackend
from stackproof.errors import PreconditionError
from stackproof.profile import Profile, load_profile
from stackproof.profile.model import HealthSettings
from stackproof.run import RunContext

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def notes() -> Profile:
    profile = load_profile(NOTES_EXAMPLE)
    ProcessBackend().check(profile)
    return profile


def test_a_service_runs_with_its_setting_changed_for_the_block_and_as_before_after(
    tmp_path: Path, notes: Profile
) -> None:
    with ProcessBackend().up(notes, RunContext("settings", tmp_path / "run"), "main") as stack:
        notes_service = stack.service("notes")
        readiness = notes_service.base_url() + "/readyz"
        before = notes_service.identity()
        # A setting the service does not have: nothing to take away, nothing restarted.
        with (
            pytest.raises(PreconditionError, match="has no NOT_A_SETTING"),
            notes_service.restarted_with({"NOT_A_SETTING": None}),
        ):
            pass
        assert notes_service.identity() == before
        # Given a changed value, it runs with it: listening, its supervised self stopped.
        with notes_service.restarted_with({"NOTES_API_KEY": "another-key"}) as started:
            assert started is None
            assert notes_service.identity() is None
            assert httpx.get(readiness, timeout=5).status_code == 200
        # Without a setting it refuses to start without: what it did comes to the block.
        with notes_service.restarted_with({"NOTES_API_KEY": None}) as started:
            assert started is not None
            assert started.exit_code not in (None, 0)
            assert "NOTES_API_KEY is not set" in started.output
        # Afterwards it runs as the profile says, ready, and the stack saw no failure.
        after = notes_service.identity()
        assert after is not None
        assert after != before
        assert httpx.get(readiness, timeout=5).status_code == 200
        assert stack.failure() is None


def test_a_setting_left_as_it_is_after_a_failure_in_the_block(
    tmp_path: Path, notes: Profile
) -> None:
    with ProcessBackend().up(notes, RunContext("settings-fail", tmp_path / "run"), "main") as stack:
        notes_service = stack.service("notes")
        with (
            pytest.raises(RuntimeError, match="the check failed"),
            notes_service.restarted_with({"NOTES_API_KEY": "another-key"}),
        ):
            raise RuntimeError("the check failed")
        assert notes_service.identity() is not None
        assert httpx.get(notes_service.base_url() + "/readyz", timeout=5).status_code == 200


def test_repeated_setting_names_or_variables_are_refused() -> None:
    twice = {"depends_on_settings": [{"name": "a", "env": "X"}, {"name": "a", "env": "Y"}]}
    with pytest.raises(ValueError, match="depends_on_settings repeat a name: a"):
        HealthSettings.model_validate(twice)
    same_env = {"depends_on_settings": [{"name": "a", "env": "X"}, {"name": "b", "env": "X"}]}
    with pytest.raises(ValueError, match="env repeat a name: X"):
        HealthSettings.model_validate(same_env)


def test_a_setting_is_an_environment_variable_name() -> None:
    with pytest.raises(ValueError, match="env"):
        HealthSettings.model_validate({"depends_on_settings": [{"name": "a", "env": "A-B"}]})
