"""The pytest plugin that turns the suites into a conformance run.

Options: --profile, --backend, --mutant, --reports-dir, --run-id, --requirement,
--allow-destructive, and pytest's own --strict (the gate: partial, skip and not_covered fail
the run). Markers: `requirement(ID, ...)` on every test, `destructive`
on tests that harm the stack (they get a stack of their own). Each test's outcome follows the
rules of `outcomes` (only a check's own finding is `fail`); a test of a stack whose service
died on its own is `error` with that one cause (`broken`). At the end it writes
results.json, junit.xml and report.html to `<reports>/<run-id>/` and prints the verdict table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from pathlib import Path

import pytest

from stackproof.backend_registry import BACKEND_CHOICES
from stackproof.catalog import by_id
from stackproof.checks.leaks import scan_reports
from stackproof.coverage.items import item_needs, requirements_of
from stackproof.coverage.needs import first_unmet
from stackproof.errors import StackBrokenError, StackproofError
from stackproof.pytest_plugin.broken import broken_message, stacks_of
from stackproof.pytest_plugin.keys import COLLECTOR, EVIDENCE, REPORT_LEAKS, RESULTS, SESSION
from stackproof.pytest_plugin.outcomes import OutcomeCollector, capability_missing
from stackproof.pytest_plugin.session import RunOptions, RunSession
from stackproof.pytest_plugin.summary import verdict_table
from stackproof.results.logscrub import scrub_logs
from stackproof.results.model import TestResult
from stackproof.results.verdicts import run_exit_status
from stackproof.signals import treat_termination_as_interrupt

pytest_plugins = [
    "stackproof.pytest_plugin.fixtures",
    "stackproof.pytest_plugin.chaos",
    "stackproof.pytest_plugin.drills",
    "stackproof.pytest_plugin.redaction",
]

DEFAULT_PROFILE = Path("profiles/reference.toml")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("stackproof", "stackproof conformance run")
    group.addoption("--profile", type=Path, help=f"profile TOML (default: {DEFAULT_PROFILE})")
    group.addoption(
        "--backend",
        choices=BACKEND_CHOICES,
        help="how to reach the stack (default: the profile's `backend`, else auto)",
    )
    group.addoption("--mutant", help="run against this mutant of the stack (mutants/<name>)")
    group.addoption("--mutants-dir", type=Path, default=None, help="folder of mutants")
    group.addoption("--reports-dir", type=Path, default=Path("reports"), help="report root")
    group.addoption("--run-id", help="name of this run's report folder (default: time-based)")
    group.addoption(
        "--requirement",
        action="append",
        default=[],
        metavar="ID",
        help="run only the tests naming this requirement ID (repeatable)",
    )
    group.addoption(
        "--allow-destructive",
        action="store_true",
        help="let destructive checks run against a remote profile whose environment is staging",
    )


def _default_profile(config: pytest.Config) -> Path:
    for base in (Path.cwd(), config.rootpath, config.rootpath.parent):
        if (base / DEFAULT_PROFILE).is_file():
            return base / DEFAULT_PROFILE
    return DEFAULT_PROFILE


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requirement(*ids): the requirement IDs a test proves")
    config.addinivalue_line("markers", "destructive: harms the stack; runs on a stack of its own")
    config.addinivalue_line("markers", "needs(*names): what the test needs (coverage.needs)")
    profile_path = config.getoption("--profile") or _default_profile(config)
    options = RunOptions(
        profile_path=profile_path,
        backend=config.getoption("--backend"),
        reports_dir=config.getoption("--reports-dir"),
        run_id=config.getoption("--run-id"),
        mutant=config.getoption("--mutant"),
        mutants_dir=config.getoption("--mutants-dir") or profile_path.parent.parent / "mutants",
        requirements=tuple(config.getoption("--requirement")),
        allow_destructive=config.getoption("--allow-destructive"),
        # pytest's own `--strict` (its strict mode, which the suites keep anyway) is also
        # the gate's: partial, skip and not_covered then fail the run.
        strict=bool(config.getoption("strict", False)),
    )
    unknown = [i for i in options.requirements if i not in by_id()]
    if unknown:
        raise pytest.UsageError(f"--requirement: not in the catalog: {', '.join(unknown)}")
    try:
        session = RunSession(options)
    except StackproofError as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[SESSION] = session
    config.stash[COLLECTOR] = OutcomeCollector()
    treat_termination_as_interrupt()


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    run = config.stash[SESSION]
    problems = []
    for item in items:
        ids = requirements_of(item)
        if not ids:
            problems.append(f"{item.nodeid}: names no requirement (@pytest.mark.requirement)")
        problems.extend(
            f"{item.nodeid}: {i} is not in the catalog" for i in ids if i not in by_id()
        )
        try:
            item_needs(item)
        except KeyError as unknown:
            problems.append(f"{item.nodeid}: {unknown.args[0]}")
    if problems:
        raise pytest.UsageError("\n".join(problems))
    if wanted := set(run.options.requirements):
        chosen = [item for item in items if wanted & set(requirements_of(item))]
        config.hook.pytest_deselected(items=[i for i in items if i not in chosen])
        items[:] = chosen
    if refusal := run.destructive_refusal():
        for item in items:
            if item.get_closest_marker("destructive"):
                item.add_marker(pytest.mark.skip(reason=refusal))


def _broken_cause(item: pytest.Item) -> str | None:
    """The one cause, when a stack this test uses broke (a service exited on its own)."""
    broken = item.config.stash[SESSION].broken.among(stacks_of(item))
    return broken_message(broken) if broken else None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    """A test of a broken stack does not run: its setup errs with the stack's one cause."""
    if (cause := _broken_cause(item)) is not None:  # known broken: no fixture runs either
        raise StackBrokenError(cause)
    # What the profile, backend or machine cannot give skips before any fixture runs, with
    # the reason `stackproof plan` gives for it.
    if (unmet := first_unmet(item_needs(item), item.config.stash[SESSION].subject)) is not None:
        pytest.skip(unmet[1])
    try:
        yield
    except (pytest.skip.Exception, KeyboardInterrupt):
        raise
    except BaseException:
        # A fixture that failed because the stack broke tells the cause, not its symptom.
        if (cause := _broken_cause(item)) is not None:
            raise StackBrokenError(cause) from None
        raise
    if (cause := _broken_cause(item)) is not None:
        raise StackBrokenError(cause)


def _as_skip(item: pytest.Item, report: pytest.TestReport, reason: str) -> None:
    report.outcome = "skipped"
    report.longrepr = (str(item.path), (item.location[1] or 0) + 1, f"Skipped: {reason}")


def _as_error(report: pytest.TestReport, message: str) -> None:
    report.outcome = "failed"
    report.longrepr = message


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    error = call.excinfo.value if call.excinfo is not None else None
    collector = item.config.stash[COLLECTOR]
    missing = capability_missing(error) if error is not None and report.failed else None
    if missing is not None and report.when != "teardown":
        _as_skip(item, report, missing.reason())  # pytest counts it as the skip it is
    collector.observe(item.nodeid, report, error)
    if report.when in ("setup", "call") and not report.skipped:
        cause = _broken_cause(item)
        if cause is not None:  # whatever the check said, its stack broke under it
            collector.override(item.nodeid, "error", cause)
            _as_error(report, cause)
    return report


def _test_results(session: pytest.Session) -> list[TestResult]:
    collector = session.config.stash[COLLECTOR]
    found = []
    for item in session.items:
        result = collector.result(
            item.nodeid, requirements_of(item), item.stash.get(EVIDENCE, None)
        )
        if result is not None:
            found.append(result)
    return found


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if SESSION not in config.stash:
        return
    run = config.stash[SESSION]
    if config.option.collectonly:  # nothing ran: no report to write, no empty folder left
        run.close()
        if not any(run.run.run_dir.iterdir()):
            run.run.run_dir.rmdir()
        return
    tests = _test_results(session)
    interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
    try:
        results = run.results(tests, int(exitstatus), interrupted)
        if in_logs := scrub_logs(run.run.run_dir / "logs", run.run.secrets):
            results = dataclasses.replace(
                results, run=dataclasses.replace(results.run, redacted_secrets=tuple(in_logs))
            )
        status = run_exit_status(results, tests, int(exitstatus))
        if status != exitstatus:
            session.exitstatus = status
            results = dataclasses.replace(
                results, run=dataclasses.replace(results.run, exit_status=status)
            )
        results = run.write(results, tests)
    finally:
        run.close()
    config.stash[RESULTS] = results
    # The report files themselves are a sink (R-RED-3): a canary there, in any encoding the
    # writer's scrubbing misses, fails the run.
    leaks = scan_reports(run.run.run_dir, run.run.secrets)
    config.stash[REPORT_LEAKS] = [finding.describe() for finding in leaks]
    if leaks:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int) -> None:
    config = terminalreporter.config
    if RESULTS not in config.stash:
        return
    results = config.stash[RESULTS]
    run = config.stash[SESSION].run
    terminalreporter.section("stackproof verdicts")
    for line in verdict_table(results):  # scrubbed like the report files
        terminalreporter.write_line(run.secrets.scrub(line)[0])
    terminalreporter.write_line(f"reports: {run.run_dir} (results.json, junit.xml, report.html)")
    for leak in config.stash.get(REPORT_LEAKS, []):
        terminalreporter.write_line(f"SECRET IN THE REPORT FILES: {leak}", red=True)
