"""One conformance run inside pytest: profile, backend, stacks, and the reports at the end."""

from __future__ import annotations

import datetime as dt
import platform
import re
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from stackproof import __version__
from stackproof.backends import Stack, select_backend
from stackproof.catalog import catalog
from stackproof.coverage.needs import Subject
from stackproof.errors import MutantError, StackproofError
from stackproof.mutants import Mutant, load_mutant, materialize
from stackproof.profile import Profile, load_profile
from stackproof.profile.policy import policy_values
from stackproof.pytest_plugin.broken import BrokenStacks
from stackproof.results.model import Results, RunInfo, StackInfo, TestResult
from stackproof.results.verdicts import build_results
from stackproof.results.write import write_reports
from stackproof.run import RunContext, new_run_id


@dataclass(frozen=True, slots=True)
class RunOptions:
    profile_path: Path
    backend: str | None
    reports_dir: Path
    run_id: str | None = None
    mutant: str | None = None
    mutants_dir: Path = Path("mutants")
    requirements: tuple[str, ...] = ()
    allow_destructive: bool = False
    strict: bool = False


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class RunSession:
    """Created at pytest_configure; raises StackproofError (a usage error) before anything runs."""

    def __init__(self, options: RunOptions) -> None:
        self.options = options
        self.started = _now()
        self._clock = time.monotonic()
        self._cleanup = ExitStack()
        self.mutant: Mutant | None = None
        try:
            self.profile = self._load_profile()
            requested = options.backend or self.profile.backend
            self.backend, self.backend_reason = select_backend(requested)
            self.backend.check(self.profile)
        except BaseException:
            self._cleanup.close()  # the mutant's copy of the stack, if one was made
            raise
        run_id = options.run_id or new_run_id()
        self.run = RunContext(run_id, options.reports_dir / run_id)
        self.stacks: list[StackInfo] = []
        self.errors: list[str] = []
        self.broken = BrokenStacks()
        self._stack_count = 0

    def _load_profile(self) -> Profile:
        overlays: list[dict[str, Any]] = []
        if self.options.mutant:
            self.mutant = load_mutant(self.options.mutants_dir / self.options.mutant)
            self._same_stack(self.mutant)
            base_root = self._base_root()
            work = Path(tempfile.mkdtemp(prefix=f"stackproof-mutant-{self.mutant.name}-"))
            self._cleanup.callback(shutil.rmtree, work, ignore_errors=True)
            overlays.append(materialize(self.mutant, base_root, work))
        return load_profile(self.options.profile_path, *overlays)

    def _same_stack(self, mutant: Mutant) -> None:
        if mutant.spec.profile is None:
            return
        breaks = mutant.profile_of(self.options.mutants_dir.resolve().parent, Path())
        if breaks.resolve() != self.options.profile_path.resolve():
            raise MutantError(
                f"mutant {mutant.name} breaks the stack of {breaks}, not of "
                f"{self.options.profile_path} (use --profile={breaks})"
            )

    def _base_root(self) -> Path:
        root = load_profile(self.options.profile_path).stack.root
        if root is None:
            raise MutantError(
                f"{self.options.profile_path}: mutants need a profile with stack.root"
            )
        return root

    @cached_property
    def subject(self) -> Subject:
        """What the checks' needs are judged against, before any stack starts."""
        return Subject(
            self.profile, self.backend.name, self.backend.offer(self.profile),
            self.destructive_refusal(),
        )  # fmt: skip

    # --- stacks ---

    def next_label(self, test_name: str) -> str:
        self._stack_count += 1
        slug = re.sub(r"[^A-Za-z0-9]+", "-", test_name).strip("-")[:40]
        return f"t{self._stack_count:02d}-{slug}"

    @contextmanager
    def stack(self, label: str) -> Iterator[Stack]:
        with ExitStack() as scope:
            try:
                stack = scope.enter_context(self.backend.up(self.profile, self.run, label))
            except StackproofError as error:
                self.errors.append(f"stack {label!r}: {error}")
                raise
            self.stacks.append(StackInfo(label, stack.ready_after_s))
            yield stack

    def destructive_refusal(self) -> str | None:
        """Why destructive tests may not run against this stack, or None when they may."""
        if self.backend.destructive_ok:
            return None
        if self.profile.environment == "production":
            return "destructive checks never run against a production profile"
        if self.profile.environment == "staging" and self.options.allow_destructive:
            return None
        return (
            f"destructive checks do not run on the {self.backend.name} backend unless the "
            "profile says environment = 'staging' and the run passes --allow-destructive"
        )

    # --- the end ---

    def results(self, tests: Sequence[TestResult], exit_status: int, interrupted: bool) -> Results:
        info = RunInfo(
            id=self.run.run_id,
            started=self.started,
            finished=_now(),
            duration_s=round(time.monotonic() - self._clock, 3),
            backend=self.backend.name,
            backend_reason=self.backend_reason,
            profile=self.profile.name,
            profile_path=str(self.options.profile_path),
            environment=self.profile.environment,
            stackproof_version=__version__,
            python=platform.python_version(),
            exit_status=exit_status,
            interrupted=interrupted,
            mutant=self.mutant.name if self.mutant else None,
            stacks=tuple(self.stacks),
            errors=(*self.errors, *self.broken.errors),
            stack_failures=self.broken.records(),
            strict=self.options.strict,
            selected=self.options.requirements,
        )
        return build_results(
            info, tests, catalog(), self.profile.waivers, policy=policy_values(self.profile.policy)
        )

    def write(self, results: Results, tests: Sequence[TestResult]) -> Results:
        """Write the reports; the results as written (with any secret found named)."""
        return write_reports(results, tests, self.run.run_dir, self.run.secrets)

    def close(self) -> None:
        self._cleanup.close()
