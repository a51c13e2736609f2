"""Where this process's Prometheus metrics live, settled by each entry point.

Runs are executed by a worker process and metrics are served by the API process, so both
record through prometheus_client's multiprocess files. prometheus_client reads the directory
when it is first imported, so the entry points (the CLI's `main`, the test fixtures, the bench)
call `settle_metrics_directory()` before anything imports it; nothing here runs on import.

Our worker child inherits its parent's directory (started with SHARE_METRICS_ENV set); any
other process started by one of ours — a second service, say — makes its own. Set
PROMETHEUS_MULTIPROC_DIR yourself to choose it (it must start empty).
"""

from __future__ import annotations

import os

from app.scratch import scratch_dir

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
SHARE_METRICS_ENV = "AI_USAGE_PIPELINE_SHARE_METRICS"
_MADE_BY_US = "AI_USAGE_PIPELINE_METRICS_DIR"
_settled_in: list[int] = []  # the pid that settled (a forked child settles anew)


def _ours_to_make() -> bool:
    directory = os.environ.get(MULTIPROC_ENV)
    if directory is None:
        return True
    if os.environ.get(_MADE_BY_US) != directory:
        return False  # chosen by the operator
    return os.environ.pop(SHARE_METRICS_ENV, None) is None


def settle_metrics_directory() -> str:
    """Make (or keep) this process's metrics directory; returns it. Idempotent."""
    if _settled_in == [os.getpid()]:
        return os.environ[MULTIPROC_ENV]
    _settled_in[:] = [os.getpid()]
    if _ours_to_make():
        # Removed at exit; one left by a killed process is removed by the next one's start.
        directory = str(scratch_dir("aup-metrics"))
        os.environ[MULTIPROC_ENV] = directory
        os.environ[_MADE_BY_US] = directory
    return os.environ[MULTIPROC_ENV]
