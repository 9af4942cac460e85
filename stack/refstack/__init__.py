"""The reference stack: the services stackproof's suites are written against, and a template."""
