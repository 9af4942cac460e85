"""Helpers the suites assert with: problem collection, evidence, HTTP to the public front."""
