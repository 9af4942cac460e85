"""Hypothesis settings for the property-based tests: derandomised in CI, bounded everywhere.

`CI=true` (as `.ci/run` is run) or `HYPOTHESIS_PROFILE=ci` selects the `ci` profile: the
same examples on every run, so a red CI is reproducible. Locally the `dev` profile draws new
examples each run; `HYPOTHESIS_PROFILE=deep` draws many more.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, max_examples=200, deadline=None, database=None, print_blob=True
)
settings.register_profile("dev", max_examples=200, deadline=None)
settings.register_profile(
    "deep", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)
