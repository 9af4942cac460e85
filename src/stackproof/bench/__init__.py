"""Benchmarks whose figures go to `reports/bench/` (`nox -s bench`)."""
