"""The plugin's outcome rules, run through pytest itself on a small suite of stub checks.

Only a check's own finding is `fail`; what kept it from judging is `error`; a capability the
backend lacks is `skip` with what would enable it; a stack whose service died on its own
turns its tests into `error` with that one cause, told once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support import REFERENCE

from stackproof.checks.problems import Problems
from stackproof.checks.steady import SteadyState
from stackproof.errors import PreconditionError

CONFTEST = '''
import pytest

from stackproof.backends import Endpoint, PublicFront, Stack, StackFailure
from stackproof.errors import CapabilityMissingError


class StubStack(Stack):
    """Reached by nothing; breaks when a test says so."""

    broken: StackFailure | None = None

    @property
    def public(self) -> PublicFront:
        return PublicFront("localhost", Endpoint("127.0.0.1", 9), None, None)

    def service(self, name):
        raise CapabilityMissingError("the stub has no services", enable="a real backend")

    def failure(self) -> StackFailure | None:
        return self.broken


@pytest.fixture(scope="session")
def stack(run_session):
    return StubStack(run_session.profile, run_session.run, "main")


@pytest.fixture
def needs_a_capability():
    raise CapabilityMissingError("this backend cannot pause", enable="backend = process")


@pytest.fixture
def broken_fixture():
    raise ConnectionRefusedError(111, "Connection refused")


@pytest.fixture
def touches(tmp_path_factory):
    (tmp_path_factory.getbasetemp() / "fixture-ran").write_text("it ran")


@pytest.fixture
def teardown_breaks():
    yield
    raise RuntimeError("teardown went wrong")
'''

OUTCOMES = """
import pytest

from stackproof.checks.needs import nothing_to_check
from stackproof.checks.problems import Problems
from stackproof.errors import CapabilityMissingError, PreconditionError

R = pytest.mark.requirement


@R("R-TLS-1")
def test_assert():
    assert 1 + 1 == 3, "the finding"


@R("R-TLS-2")
def test_problems():
    problems = Problems("headers")
    problems.add("hsts", "missing")
    problems.raise_if_any()


@R("R-TLS-3")
def test_precondition():
    raise PreconditionError("not steady before the fault: bot readiness 503")


@R("R-TLS-4")
def test_refused():
    raise ConnectionRefusedError(111, "Connection refused")


@R("R-TLS-5")
def test_harness_bug():
    {}["missing"]


@R("R-TLS-6")
def test_capability():
    raise CapabilityMissingError("RemoteStack holds no secrets of the stack", enable="backend = process")


@R("R-TLS-7")
def test_capability_in_fixture(needs_a_capability):
    pass


@R("R-HDR-1")
def test_skip():
    pytest.skip("the profile gives no plain-HTTP address")


@R("R-HDR-2")
def test_nothing_to_check():
    nothing_to_check("no service names a hard dependency", enable="health.hard_dependencies")


@R("R-HDR-3")
def test_setup_error(broken_fixture):
    pass


@R("R-HDR-4")
def test_teardown_error(teardown_breaks):
    pass


@R("R-HDR-5")
def test_group_with_a_finding():
    raise ExceptionGroup("two", [AssertionError("seen"), OSError("and a harness error")])


@R("R-HLT-1")
def test_pass():
    pass
"""

BROKEN = """
import pytest

from stackproof.backends import StackFailure

R = pytest.mark.requirement
RAN = []


@R("R-HLT-2")
def test_before_it_broke(stack):
    pass


@R("R-HLT-3")
def test_it_breaks_under_this_one(stack):
    stack.broken = StackFailure(
        "nginx", 1, "exited with code 1",
        "bind() to 127.0.0.1:41491 failed (98: Address in use) " + stack.run.secrets.add("x", "s3cr3t-canary-value-x"),
        0.0,
    )
    assert False, "a symptom of the broken stack, not a finding"


@R("R-HLT-4")
def test_later_one(stack, tmp_path_factory):
    (tmp_path_factory.getbasetemp() / "ran").write_text("it ran")


@R("R-HLT-5")
def test_later_two(touches, stack):
    pass


@R("R-HLT-6")
def test_without_the_stack():
    pass
"""


@dataclass
class Run:
    exit_code: int
    output: str
    results: dict[str, Any]
    html: str

    def outcomes(self) -> dict[str, tuple[str, str | None]]:
        return {
            t["nodeid"].rpartition("::")[2]: (t["outcome"], t["message"])
            for r in self.results["requirements"]
            for t in r["tests"]
        }

    def verdicts(self) -> dict[str, str]:
        return {r["id"]: r["verdict"] for r in self.results["requirements"]}


def run_stub_suite(folder: Path, *args: str) -> Run:
    suite = folder / "suite"
    suite.mkdir(parents=True, exist_ok=True)
    (suite / "pytest.ini").write_text(
        "[pytest]\naddopts = -p stackproof.pytest_plugin -p no:cacheprovider -rs --strict-markers\n"
        "filterwarnings = error\n"
    )
    (suite / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (suite / "test_a_outcomes.py").write_text(textwrap.dedent(OUTCOMES))
    (suite / "test_b_broken.py").write_text(textwrap.dedent(BROKEN))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(suite / "pytest.ini"), str(suite),
         f"--profile={REFERENCE}", "--backend=process", f"--reports-dir={folder / 'reports'}",
         "--run-id=run", f"--basetemp={folder / 'tmp'}", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    run_dir = folder / "reports" / "run"
    assert (run_dir / "results.json").is_file(), done.stdout[-3000:] + done.stderr[-3000:]
    return Run(
        done.returncode,
        done.stdout + done.stderr,
        json.loads((run_dir / "results.json").read_text("utf-8")),
        (run_dir / "report.html").read_text("utf-8"),
    )


@pytest.fixture(scope="module")
def stub_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_stub_suite(tmp_path_factory.mktemp("stub"))


@pytest.mark.parametrize(
    ("test", "outcome", "said"),
    [
        ("test_assert", "fail", "the finding"),
        ("test_problems", "fail", "[hsts] missing"),
        ("test_precondition", "error", "PreconditionError: not steady before the fault"),
        ("test_refused", "error", "ConnectionRefusedError: [Errno 111] Connection refused"),
        ("test_harness_bug", "error", "KeyError: 'missing'"),
        ("test_capability", "skip", "RemoteStack holds no secrets of the stack (to enable: backend = process)"),
        ("test_capability_in_fixture", "skip", "this backend cannot pause (to enable: backend = process)"),
        ("test_skip", "skip", "the profile gives no plain-HTTP address"),
        ("test_nothing_to_check", "skip", "no service names a hard dependency (to enable: health.hard_dependencies)"),
        ("test_setup_error", "error", "ConnectionRefusedError"),
        ("test_teardown_error", "error", "RuntimeError: teardown went wrong"),
        ("test_group_with_a_finding", "fail", "two"),
        ("test_pass", "pass", None),
    ],
)  # fmt: skip
def test_outcome_rules(stub_run: Run, test: str, outcome: str, said: str | None) -> None:
    found, message = stub_run.outcomes()[test]
    assert found == outcome, message
    if said is None:
        assert message is None
    else:
        assert message is not None
        assert said in message


def test_skips_for_a_missing_capability_are_skips_to_pytest_too(stub_run: Run) -> None:
    assert " 4 skipped" in stub_run.output
    assert (
        "RemoteStack holds no secrets of the stack (to enable: backend = process)"
        in stub_run.output
    )
    verdicts = stub_run.verdicts()
    assert (verdicts["R-TLS-6"], verdicts["R-TLS-7"]) == ("skip", "skip")


def test_a_broken_stack_errs_its_tests_with_one_cause_told_once(stub_run: Run) -> None:
    outcomes = stub_run.outcomes()
    cause = "stack 'main' broken: service 'nginx' exited with code 1 (see the top of the report)"
    assert outcomes["test_before_it_broke"] == ("pass", None)
    assert outcomes["test_it_breaks_under_this_one"] == ("error", cause), "not a finding"
    assert outcomes["test_later_one"] == ("error", cause)
    assert outcomes["test_later_two"] == ("error", cause)
    assert outcomes["test_without_the_stack"] == ("pass", None)
    failures = stub_run.results["run"]["stack_failures"]
    assert failures == [
        {
            "label": "main", "service": "nginx", "exit_status": 1, "detail": "exited with code 1",
            "log_tail": "bind() to 127.0.0.1:41491 failed (98: Address in use) [secret:x]",
        }
    ], "once, and scrubbed of the run's secrets"  # fmt: skip
    assert stub_run.output.count("Address in use") == 1, stub_run.output[-3000:]
    summary = stub_run.output.split("stackproof verdicts")[1]
    assert summary.splitlines()[1].startswith("STACK BROKEN — stack 'main' broken: service 'nginx'")
    assert stub_run.html.count("Address in use") == 1
    assert stub_run.html.index("Address in use") < stub_run.html.index("Verdicts by requirement")
    assert (
        "s3cr3t-canary-value-x"
        not in stub_run.html + stub_run.output.split("stackproof verdicts")[1]
    )
    assert stub_run.exit_code == 1


def test_later_tests_of_a_broken_stack_do_not_run(tmp_path: Path) -> None:
    run_stub_suite(tmp_path, "-k", "broken")
    assert not (tmp_path / "tmp" / "ran").exists(), "a test body ran"
    assert not (tmp_path / "tmp" / "fixture-ran").exists(), "a fixture of the test ran"


def test_strict_fails_a_run_whose_chosen_requirements_are_not_all_proven(tmp_path: Path) -> None:
    chosen = ("--requirement=R-HLT-1", "--requirement=R-HLT-6")
    assert run_stub_suite(tmp_path / "a", *chosen).exit_code == 0
    assert run_stub_suite(tmp_path / "b", *chosen, "--strict").exit_code == 0
    gap = run_stub_suite(tmp_path / "c", *chosen, "--requirement=R-HDR-1", "--strict")
    assert gap.exit_code == 1
    assert gap.results["run"]["exit_status"] == 1
    assert "--strict: 1 requirement(s) not proven fail the run:\n    skip: R-HDR-1\n" in gap.output
    assert run_stub_suite(tmp_path / "d", *chosen, "--requirement=R-HDR-1").exit_code == 0


class _Seen(SteadyState):
    def __init__(self, problems: Problems) -> None:  # no stack: only the verdicts are tested
        self.problems = problems
        self.last = problems

    def look(self) -> Problems:
        return self.problems


def test_not_steady_before_a_fault_is_a_precondition_and_after_it_a_finding() -> None:
    problems = Problems("steady state")
    problems.add("bot readiness", "503, expected 200")
    with pytest.raises(PreconditionError, match="not steady before the fault"):
        _Seen(problems).require("before the fault")
    _Seen(Problems("steady state")).require("before the fault")  # steady: nothing raised
    with pytest.raises(pytest.fail.Exception, match=r"not steady again 0\.2 s after the fault"):
        _Seen(problems).await_again(0.2, "after the fault")
