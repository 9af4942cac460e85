"""Mutants: broken variants of a stack, each naming the requirements it must make fail.

`mutants/<name>/mutant.toml`:

    description = "nginx also accepts TLS 1.0 and 1.1"
    expects = ["R-TLS-1"]
    tests = ["tls/test_tls.py::test_only_tls12_and_tls13_are_accepted"]
                                   # optional: run only these, each must fail (node IDs
                                   # under suites/, as `pytest --collect-only -q` lists them);
                                   # default: the expected requirements' tests, to the first
                                   # failure
    profile = "profiles/examples/guestbook/profile.toml"
                                   # optional: the stack it breaks, a profile relative to
                                   # the project (default: the reference stack's); the
                                   # edits apply to a copy of its stack.root

    [[edit]]                       # a text replacement in a copy of the stack tree;
    file = "nginx/nginx.conf.template"  # `old` must occur exactly once, so a mutant
    old = "ssl_protocols TLSv1.2 TLSv1.3;"  # never silently stops applying
    new = "ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;"

    [files]                        # whole files swapped in: stack path = file here
    "refstack/common/health.py" = "health.py"

    [overlay]                      # merged into the profile
    stack.certificate_days = 5
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from stackproof.catalog import by_id
from stackproof.errors import MutantError
from stackproof.profile import read_toml

MUTANT_FILE = "mutant.toml"


class Edit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    file: str
    old: str = Field(min_length=1)
    new: str


class MutantSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    description: str = Field(min_length=5)
    expects: list[str] = Field(min_length=1)
    edit: list[Edit] = Field(default_factory=list)
    files: dict[str, str] = Field(default_factory=dict)
    overlay: dict[str, Any] = Field(default_factory=dict)
    tests: list[str] = Field(default_factory=list)
    profile: str | None = Field(
        default=None, description="the profile of the stack it breaks, relative to the project"
    )

    @field_validator("tests")
    @classmethod
    def _node_ids(cls, ids: list[str]) -> list[str]:
        for nodeid in ids:
            path, sep, name = nodeid.removeprefix("suites/").partition("::")
            if not sep or not name or not path.endswith(".py"):
                raise ValueError(f"{nodeid!r} is not a test's node ID (path.py::test_name)")
        if len(set(ids)) != len(ids):
            raise ValueError("a test is named twice")
        return ids

    @field_validator("expects")
    @classmethod
    def _known(cls, ids: list[str]) -> list[str]:
        unknown = [i for i in ids if i not in by_id()]
        if unknown:
            raise ValueError(f"not requirement IDs of the catalog: {', '.join(unknown)}")
        return ids


@dataclass(frozen=True)
class Mutant:
    name: str
    folder: Path
    spec: MutantSpec = field(repr=False)

    @property
    def expects(self) -> tuple[str, ...]:
        return tuple(self.spec.expects)

    def profile_of(self, project: Path, default: Path) -> Path:
        """The profile of the stack it breaks: its own `profile`, else `default`."""
        return default if self.spec.profile is None else project / self.spec.profile

    @property
    def targets(self) -> tuple[str, ...]:
        """The tests it names, as node IDs under suites/ (results.json's); empty: none."""
        return tuple(nodeid.removeprefix("suites/") for nodeid in self.spec.tests)


def load_mutant(folder: Path) -> Mutant:
    path = folder / MUTANT_FILE
    try:
        spec = MutantSpec.model_validate(read_toml(path))
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, p['loc']))}: {p['msg']}" for p in error.errors())
        raise MutantError(f"{path}: {problems}") from None
    if spec.profile is not None and not (folder.parent.parent / spec.profile).is_file():
        raise MutantError(f"{path}: profile: {folder.parent.parent / spec.profile} does not exist")
    for stack_path, swapped_in in spec.files.items():
        if not (folder / swapped_in).is_file():
            raise MutantError(f"{path}: files.{stack_path}: {folder / swapped_in} does not exist")
    return Mutant(folder.name, folder, spec)


def discover(mutants_dir: Path) -> list[Mutant]:
    """Every mutant under `mutants_dir` (folders with a mutant.toml), by name."""
    return [load_mutant(p.parent) for p in sorted(mutants_dir.glob(f"*/{MUTANT_FILE}"))]


def _inside(root: Path, relative: str) -> Path:
    target = (root / relative).resolve()
    if not target.is_relative_to(root.resolve()):
        raise MutantError(f"{relative!r} points outside the stack tree")
    return target


def materialize(mutant: Mutant, stack_root: Path, work_dir: Path) -> dict[str, Any]:
    """Copy the stack tree into `work_dir`, break it as the mutant says; return the overlay."""
    copy = work_dir / "stack"
    shutil.copytree(stack_root, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for stack_path, swapped_in in mutant.spec.files.items():
        target = _inside(copy, stack_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(mutant.folder / swapped_in, target)
    for edit in mutant.spec.edit:
        target = _inside(copy, edit.file)
        if not target.is_file():
            raise MutantError(f"mutant {mutant.name}: edit of {edit.file}: no such file")
        text = target.read_text("utf-8")
        count = text.count(edit.old)
        if count != 1:
            raise MutantError(
                f"mutant {mutant.name}: edit of {edit.file}: the text to replace occurs "
                f"{count} times (must be exactly once): {edit.old!r}"
            )
        target.write_text(text.replace(edit.old, edit.new), "utf-8")
    overlay = dict(mutant.spec.overlay)
    stack_overlay = dict(overlay.get("stack", {}))
    stack_overlay["root"] = str(copy)
    overlay["stack"] = stack_overlay
    return overlay
