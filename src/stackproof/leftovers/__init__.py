"""What a killed harness leaves behind, and how it is removed.

`harness.py` marks a live harness (a lock) and records what it makes; `keeper.py` kills its
processes the moment it dies (through `reap.py` and `cgroups.py`); `clean.py` is `stackproof
clean`, which removes the rest for harnesses that are gone. The keeper imports only the
standard library and these modules, so it starts fast: keep this file empty of imports.
"""
