"""Faults the suites inject into a stack, through the backend interface's protocols (`injector`).

The Toxiproxy-API client and server the links run through are a library of their own,
`stackproof.toxiproxy`: a backend may use it without importing the fault layer.
"""
