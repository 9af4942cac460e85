"""One cleanup watcher per run (`containers.watcher`), started at the run's first compose stack.

It removes everything labelled with the run when this process ends, however it ends (its
pipe closes with the process, SIGKILL included). An orderly end closes it at exit, after
every stack took its own objects down; it then finds nothing left.
"""

from __future__ import annotations

import atexit
import threading

from stackproof.containers.watcher import Watcher
from stackproof.leftovers.harness import Harness
from stackproof.run import RunContext

_watchers: dict[str, Watcher] = {}
_guard = threading.Lock()


def ensure_watcher(run: RunContext) -> Watcher:
    with _guard:
        watcher = _watchers.get(run.run_id)
        if watcher is None:
            log = run.run_dir / "logs" / "container-watcher.log"
            watcher = Watcher(run.run_id, log, Harness.current().id).start()
            _watchers[run.run_id] = watcher
            atexit.register(watcher.stop)
            run.record("container_watcher", pid=watcher.pid)
        return watcher
