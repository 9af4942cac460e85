"""Faults the suites inject: network faults through a Toxiproxy-API proxy (`faults.toxiproxy`)."""
