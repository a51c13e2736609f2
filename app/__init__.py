"""ai-usage-pipeline."""

import atexit
import os
import shutil
import tempfile

# Runs are executed by a worker process and metrics are served by the API process, so both
# record through prometheus_client's multiprocess files. The directory must be known before
# prometheus_client is first imported, hence here. Our worker child is started with
# SHARE_METRICS_ENV set and shares its parent's directory; any other process — e.g. a second
# service started by a process that made one — makes its own. Set PROMETHEUS_MULTIPROC_DIR
# yourself to choose it (it must start empty).
_MADE_BY_US = "AI_USAGE_PIPELINE_METRICS_DIR"
SHARE_METRICS_ENV = "AI_USAGE_PIPELINE_SHARE_METRICS"


def _metrics_directory_is_ours_to_make() -> bool:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory is None:
        return True
    if os.environ.get(_MADE_BY_US) != directory:
        return False  # chosen by the operator
    return os.environ.pop(SHARE_METRICS_ENV, None) is None


if _metrics_directory_is_ours_to_make():
    _directory = tempfile.mkdtemp(prefix="aup-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _directory
    os.environ[_MADE_BY_US] = _directory
    atexit.register(shutil.rmtree, _directory, ignore_errors=True)
