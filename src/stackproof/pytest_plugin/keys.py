"""Where the plugin keeps its state on pytest's objects."""

from __future__ import annotations

import pytest

from stackproof.checks.evidence import Evidence
from stackproof.pytest_plugin.outcomes import OutcomeCollector
from stackproof.pytest_plugin.session import RunSession
from stackproof.results.model import Results

SESSION = pytest.StashKey[RunSession]()
COLLECTOR = pytest.StashKey[OutcomeCollector]()
RESULTS = pytest.StashKey[Results]()
EVIDENCE = pytest.StashKey[Evidence]()
REPORT_LEAKS = pytest.StashKey[list[str]]()  # canaries found in the written report files
