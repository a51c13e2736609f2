"""The benchmarks at tiny sizes, so their code cannot rot (no targets asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_bench_quick_runs_every_part(tmp_path: Path) -> None:
    output = tmp_path / "performance.md"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--output", str(output)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    text = output.read_text()
    for heading in ("## Write path", "## Against dlt", "## The full run against the simulator", "## API latency",
                    "## The pipeline alone", "## Requests and the rate-limit floor"):  # fmt: skip
        assert heading in text
    results = json.loads(
        (Path(__file__).resolve().parents[2] / "bench" / "results" / "latest.json").read_text()
    )
    assert set(results) >= {
        "write_path", "peer_dlt", "api_latency", "machine", "replay"
    }  # fmt: skip
    replay = results["replay"]
    assert replay["rate_limit_floor"]["rate_limited"] == {}  # the client paces within limits
    assert all(replay[source]["requests"] for source in ("cursor", "claude_code", "claude_ai"))
    assert results["api_latency"]["errors"] == {}


def test_the_dashboard_bench_runs(tmp_path: Path) -> None:
    output = tmp_path / "performance.md"
    output.write_text("# Performance\n\nthe main benchmark's figures\n")
    result = subprocess.run(
        [sys.executable, "-m", "bench.dashboard", "40", "35", "2", "--output", str(output)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    text = output.read_text()
    assert text.startswith("# Performance\n\nthe main benchmark's figures\n")  # kept
    assert "## The dashboard at 40 people × 35 days" in text
    assert "| `/ui/seats` |" in text
    # `make bench` rewrites the file with its own figures and keeps this section.
    from bench.__main__ import kept_sections

    assert kept_sections(output).lstrip().startswith("<!-- bench:dashboard -->\n## The dashboard")
