"""Taking a dependency file away always puts it back; what keeps the check from judging is
an error (PreconditionError), never a finding."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from stackproof.backends.process.files import LocalFiles
from stackproof.checks.filedeps import taken_away
from stackproof.errors import PreconditionError
from stackproof.profile.model import FileDependency, HealthSettings

REMOVE = FileDependency(name="credentials", path="/x")


def test_a_removed_file_comes_back_with_its_content_and_mode_also_after_a_failure(
    tmp_path: Path,
) -> None:
    target = tmp_path / "credentials.json"
    target.write_bytes(b'{"k": 1}')
    target.chmod(0o640)
    seen: list[bool] = []

    def check() -> None:
        with taken_away(LocalFiles(), PurePosixPath(target), REMOVE):
            seen.append(target.exists())
            raise RuntimeError("the check failed")

    with pytest.raises(RuntimeError):
        check()
    assert seen == [False]
    assert target.read_bytes() == b'{"k": 1}'
    assert target.stat().st_mode & 0o777 == 0o640


def test_a_file_missing_before_the_check_is_a_precondition(tmp_path: Path) -> None:
    absent = taken_away(LocalFiles(), PurePosixPath(tmp_path / "absent"), REMOVE)
    with pytest.raises(PreconditionError, match="is not a file"):
        absent.__enter__()


def test_repeated_file_names_are_refused() -> None:
    twice = {"depends_on_files": [{"name": "a", "path": "/x"}, {"name": "a", "path": "/y"}]}
    with pytest.raises(ValueError, match="repeat a name"):
        HealthSettings.model_validate(twice)
