"""A pytest plugin for the suites: the process backend as one that cannot tell a restart from
a recovery in place (its services report no restart identity, as a remote host may not).

    pytest -c suites/pytest.ini suites -p no_restart_identity  (with this folder on PYTHONPATH)
"""

from __future__ import annotations

from stackproof.backends.process.stack import ProcessServiceControl


def _unknown(self: ProcessServiceControl) -> str | None:
    return None


ProcessServiceControl.identity = _unknown  # type: ignore[method-assign]
