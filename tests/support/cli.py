"""`usage-pipeline` as users run it: a process of its own against a database."""

from __future__ import annotations

import os
import subprocess
import sys


def usage_pipeline(database: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
