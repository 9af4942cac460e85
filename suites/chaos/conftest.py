"""The chaos suite's wiring: Hypothesis settings profiles for the fault-schedule property.

`ci` (the default) is derandomized and bounded, so every run draws the same schedules and
a conformance run takes a known time; `explore` draws more, at random, for a hunt. Choose
with STACKPROOF_HYPOTHESIS_PROFILE. A run against a mutant (`--mutant`) uses `mutant`:
the same draws, no shrinking. No example database: a failure is reported with its
shrunk schedule, and a derandomized run finds it again.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, Phase, settings

_COMMON = {
    "deadline": None,  # an example is a fault schedule on a live stack: seconds, not ms
    "database": None,
    # One stack serves every example (its own, from the function-scoped `own_stack`).
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
settings.register_profile("ci", max_examples=6, derandomize=True, **_COMMON)
settings.register_profile("explore", max_examples=30, **_COMMON)
# Against a mutant a failure is the expected verdict; shrinking it would only cost minutes.
settings.register_profile(
    "mutant",
    max_examples=6,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    report_multiple_bugs=False,
    **_COMMON,
)
settings.load_profile(os.environ.get("STACKPROOF_HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--mutant", default=None):
        settings.load_profile("mutant")
