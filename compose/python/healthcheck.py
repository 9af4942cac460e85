#!/usr/bin/env python3
"""The container's health check: its HTTP endpoint answers, and not with a server error.

HEALTHCHECK_URL names the endpoint (default: the service's liveness, /healthz on 8000). Any
answer below 500 is an answer: the outside-world fakes have no health route of their own.
"""

import os
import sys
import urllib.error
import urllib.request

URL = os.environ.get("HEALTHCHECK_URL", "http://127.0.0.1:8000/healthz")


def main() -> int | str:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy
    try:
        with opener.open(URL, timeout=2) as answer:
            status = answer.status
    except urllib.error.HTTPError as error:
        status = error.code
    except OSError as error:
        return f"{URL}: {error}"
    return 0 if status < 500 else f"{URL}: status {status}"


if __name__ == "__main__":
    sys.exit(main())
