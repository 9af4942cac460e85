"""Tests of the suites that no mutant can fail, each with the reason: `mutants/unkillable.toml`.

    [[test]]
    id = "redaction/test_redaction.py::test_x"   # a node ID under suites/
    reason = "why no broken reference stack can make it fail"

Keep it short and honest: a test listed here that a mutant does fail is an error of the
list (`coverage.TestCoverage.problems`).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stackproof.errors import MutantError
from stackproof.profile import read_toml

UNKILLABLE_FILE = "unkillable.toml"


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[^:]+\.py::.+$")
    reason: str = Field(min_length=20)


class _Listing(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    test: list[_Entry] = Field(default_factory=list)


def load_unkillable(mutants_dir: Path) -> dict[str, str]:
    """Node ID → why no mutant can fail it (empty when the file does not exist)."""
    path = mutants_dir / UNKILLABLE_FILE
    if not path.is_file():
        return {}
    try:
        listing = _Listing.model_validate(read_toml(path))
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, p['loc']))}: {p['msg']}" for p in error.errors())
        raise MutantError(f"{path}: {problems}") from None
    found: dict[str, str] = {}
    for entry in listing.test:
        if entry.id in found:
            raise MutantError(f"{path}: {entry.id} is listed twice")
        found[entry.id] = entry.reason
    return found
