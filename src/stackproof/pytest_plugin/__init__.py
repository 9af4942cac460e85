"""The pytest plugin that turns the suites into a conformance run.

Options: --profile, --backend, --mutant, --reports-dir, --run-id, --requirement,
--allow-destructive. Markers: `requirement(ID, ...)` on every test, `destructive` on tests
that harm the stack (they get a stack of their own). At the end it writes results.json,
junit.xml and report.html to `<reports>/<run-id>/` and prints the verdict table.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import pytest

from stackproof.backend_registry import BACKEND_CHOICES
from stackproof.catalog import by_id
from stackproof.checks.leaks import scan_reports
from stackproof.errors import StackproofError
from stackproof.pytest_plugin.keys import COLLECTOR, EVIDENCE, REPORT_LEAKS, RESULTS, SESSION
from stackproof.pytest_plugin.outcomes import OutcomeCollector
from stackproof.pytest_plugin.session import RunOptions, RunSession
from stackproof.pytest_plugin.summary import verdict_table
from stackproof.results.model import TestResult
from stackproof.results.verdicts import failures_all_waived
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


def requirements_of(item: pytest.Item) -> tuple[str, ...]:
    return tuple(i for marker in item.iter_markers("requirement") for i in marker.args)


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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    error = call.excinfo.value if call.excinfo is not None else None
    item.config.stash[COLLECTOR].observe(item.nodeid, report, error)
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
    tests = _test_results(session)
    interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
    try:
        results = run.finish(tests, int(exitstatus), interrupted)
    finally:
        run.close()
    config.stash[RESULTS] = results
    if exitstatus == pytest.ExitCode.TESTS_FAILED and failures_all_waived(results, tests):
        session.exitstatus = pytest.ExitCode.OK
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
    run_dir = config.stash[SESSION].run.run_dir
    terminalreporter.section("stackproof verdicts")
    for line in verdict_table(results):
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"reports: {run_dir} (results.json, junit.xml, report.html)")
    for leak in config.stash.get(REPORT_LEAKS, []):
        terminalreporter.write_line(f"SECRET IN THE REPORT FILES: {leak}", red=True)
