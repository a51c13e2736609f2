"""Importing the service makes no directories and changes no environment: the entry points
settle the metrics directory (app.metrics_directory) before prometheus_client is imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROBE = """
import os, sys, tempfile
from pathlib import Path
before_env = dict(os.environ)
before_dirs = set(Path(tempfile.gettempdir()).iterdir())
import app.cli
assert "prometheus_client" not in sys.modules  # the CLI settles the directory first
import app, app.main, app.orchestration.worker_process, app.simulator.app
assert dict(os.environ) == before_env, set(os.environ.items()) ^ set(before_env.items())
made = set(Path(tempfile.gettempdir()).iterdir()) - before_dirs
assert not made, made
"""


def test_importing_the_service_has_no_side_effects(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PROMETHEUS_MULTIPROC_DIR", "AI_USAGE_PIPELINE_METRICS_DIR")
    }
    env["TMPDIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_an_entry_point_settles_the_directory_once(tmp_path: Path) -> None:
    probe = (
        "import os; from app.metrics_directory import settle_metrics_directory as s;"
        "a = s(); b = s(); assert a == b == os.environ['PROMETHEUS_MULTIPROC_DIR'];"
        "assert os.path.isdir(a); print(a)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROMETHEUS", "AI_USAGE"))}
    env["TMPDIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(str(tmp_path))
