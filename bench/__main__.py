"""`python -m bench` (or `make bench`): every benchmark, one run, ratios measured side by side.

Writes bench/results/latest.json and docs/performance.md. `--quick` shrinks every size (the
test suite runs it so this code cannot rot); the defaults are the sizes the issue asks for.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.gc_tuning import tune_garbage_collector
from bench import accounts, e2e, floor, peer_dlt, write_path
from bench.common import machine, scratch_database

ROOT = Path(__file__).resolve().parents[1]
PAGE_LATENCY_MS = 50  # simulated upstream latency per page, as the issue sets it


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke run")
    parser.add_argument("--claude-rows", type=int, default=1_000_000)
    parser.add_argument("--cursor-rows", type=int, default=500_000)
    # dlt merges ~7k rows/s here: its share of the rows keeps `make bench` under 20 minutes.
    parser.add_argument("--peer-claude-rows", type=int, default=60_000)
    parser.add_argument("--peer-cursor-rows", type=int, default=30_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--windows", type=int, nargs="+", default=[1, 30])
    parser.add_argument("--repetitions", type=int, default=3)
    # Replayed runs: every source alone and all together over the longest window, the full
    # run over each shorter one (~2 minutes at 10,000 people and 30 days).
    parser.add_argument("--run-repetitions", type=int, default=1)
    parser.add_argument("--load-rate", type=int, default=200)
    parser.add_argument("--load-seconds", type=float, default=20)
    # The documented rate limits ×5: the 30-day floor (Cursor's usage events, 60 a minute) is
    # ~2 minutes instead of ~10, still longer than the pipeline's CPU time for the run.
    parser.add_argument("--rate-limit-scale", type=float, default=5.0)
    parser.add_argument("--skip-peer", action="store_true", help="without dlt installed")
    # Four accounts side by side under the same scaled limits (bench/accounts.py).
    parser.add_argument("--account-users", type=int, default=1_000)
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "performance.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.claude_rows, args.cursor_rows = 3_000, 1_500
        args.peer_claude_rows, args.peer_cursor_rows = 600, 300
        args.users, args.windows, args.repetitions = 20, [1, 2], 1
        args.run_repetitions = 1
        args.load_rate, args.load_seconds = 20, 2
        args.rate_limit_scale = 600.0
        args.account_users = 20
    return args


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {
        "command": "python -m bench " + " ".join(sys.argv[1:]),
        "repetitions": args.repetitions,
        "run_repetitions": args.run_repetitions,
    }
    async with scratch_database() as dsn:
        results["machine"] = await machine(dsn)
        results["write_path"] = await write_path.measure(
            dsn, args.claude_rows, args.cursor_rows, args.repetitions
        )
    if not args.skip_peer:
        async with scratch_database() as dsn:
            ours = await write_path.measure(
                dsn, args.peer_claude_rows, args.peer_cursor_rows, args.repetitions
            )
            theirs = await peer_dlt.measure(
                dsn, args.peer_claude_rows, args.peer_cursor_rows, args.repetitions
            )
        results["peer_dlt"] = {
            table: {
                "rows": theirs[table]["rows"],
                "dlt_seconds": {k: theirs[table][k] for k in ("first_load", "unchanged")},
                "ours_seconds": {k: ours[table]["seconds"][k] for k in ("first_load", "unchanged")},
                "speedup": {
                    k: theirs[table][k] / ours[table]["seconds"][k]
                    for k in ("first_load", "unchanged")
                },
            }
            for table in theirs
        }
    async with scratch_database() as dsn:
        results["replay"] = await asyncio.to_thread(
            e2e.replay_runs,
            dsn,
            args.users,
            tuple(args.windows),
            args.run_repetitions,
            args.rate_limit_scale,
            PAGE_LATENCY_MS,
        )
    async with scratch_database() as dsn:
        results["api_latency"] = await asyncio.to_thread(
            e2e.api_latency,
            dsn,
            args.users,
            max(args.windows),
            PAGE_LATENCY_MS,
            args.load_rate,
            args.load_seconds,
        )
    async with scratch_database() as dsn:
        results["accounts"] = await asyncio.to_thread(
            accounts.backfill, dsn, args.account_users, max(args.windows), args.rate_limit_scale
        )
    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return results


def kept_sections(path: Path) -> str:
    """The sections other benchmarks write into the same file (`bench.dashboard`), between
    their `<!-- bench:NAME -->` markers: kept when this one rewrites it."""
    if not path.exists():
        return ""
    text = path.read_text()
    start = text.find("<!-- bench:")
    return "\n" + text[start:] if start >= 0 else ""


def _markdown(results: dict[str, Any]) -> str:
    lines = [
        "# Performance",
        "",
        f"Measured by `{results['command']}` at {results['finished_at']} "
        f"(PostgreSQL {results['machine']['postgresql']}, Python {results['machine']['python']}, "
        f"asyncpg {results['machine']['asyncpg']}, {results['machine']['cpus']} CPUs). Every ratio "
        "compares figures measured side by side in that one run; absolute times on these shared "
        "2-core machines are noisy.",
        "",
        "## Write path vs a raw binary COPY into an unindexed copy of the table",
        "",
        f"Median of {results['repetitions']} repetitions each. The repository upsert "
        "(`replace_claude_days`, `CursorWindow`) against `copy_records_to_table` of the same "
        "records into a table with the same columns and no index, constraint or generated key.",
        "",
        "| table | rows | COPY rows/s | first load | unchanged | 10 % changed | plain COPY into the real table |",
        "|---|---|---|---|---|---|---|",
    ]
    for table, r in results["write_path"].items():
        ratio = r["ratio_to_copy"]
        lines.append(
            f"| `{table}` | {r['rows']:,} | {r['rows_per_second']['copy']:,.0f} "
            f"| {ratio['first_load']:.2f}× | {ratio['unchanged']:.2f}× | {ratio['ten_percent_changed']:.2f}× "
            f"| {ratio['copy_into_table']:.2f}× |"
        )
    lines += [
        "",
        "Targets: first load ≥ 0.5× COPY, unchanged ≥ 1.0× COPY. The last column is a plain "
        "binary COPY into the empty fact table itself (primary key, CHECK constraints, Claude's "
        "generated grain key): no first load into that table can beat it.",
        "",
    ]
    if "peer_dlt" in results:
        lines += [
            "## Against dlt (merge write disposition, same primary keys)",
            "",
            f"Median of {results['repetitions']} repetitions each, ours and dlt's on the same rows "
            "(a share of the write-path rows: dlt loads about 7,000 rows/s here).",
            "",
            "| table | rows | dlt first / unchanged (s) | ours first / unchanged (s) | speed-up first / unchanged |",
            "|---|---|---|---|---|",
        ]
        for table, r in results["peer_dlt"].items():
            lines.append(
                f"| `{table}` | {r['rows']:,} | {r['dlt_seconds']['first_load']:.2f} / {r['dlt_seconds']['unchanged']:.2f} "
                f"| {r['ours_seconds']['first_load']:.2f} / {r['ours_seconds']['unchanged']:.2f} "
                f"| {r['speedup']['first_load']:.1f}× / {r['speedup']['unchanged']:.1f}× |"
            )
        lines += ["", "Target: ≥ 10× on both.", ""]
    replay = results["replay"]
    cores = results["machine"]["cpus"] or 1
    lines += [
        f"## The full run against the simulator ({replay['users']:,} simulated people, "
        f"{replay['latency_ms']} ms per page, rate limits off)",
        "",
        "As users run it: `usage-pipeline run` in its own process, the simulator in another "
        "(recording the pages it serves, for the runs below). CPU is where the machine's CPU "
        "went during the run.",
        "",
        "| window | wall | peak RSS (MB) | CPU: pipeline | simulator | PostgreSQL and the rest |",
        "|---|---|---|---|---|---|",
    ]
    for days, w in sorted(replay["simulator_runs"].items(), key=lambda item: int(item[0])):
        used = w["cpu_seconds"]
        lines.append(
            f"| {days} d | {w['wall_seconds']:.1f} s | {w['peak_rss_mb']:.0f} | "
            f"{used['pipeline']:.0f} s | {used['simulator']:.0f} s | {used['other']:.0f} s |"
        )
    lines += [
        "",
        f"On {cores} cores the simulator's CPU competes with the run's, which is why the "
        "figures below measure the pipeline against recorded pages instead.",
        "",
    ]
    lines += _replay_markdown(results)
    lines += _floor_markdown(results)
    lines += accounts.markdown(results["accounts"])
    api = results["api_latency"]
    lines += [
        "",
        "## API latency during a backfill",
        "",
        f"GET /livez and GET /runs/{{id}} at {api['requests'] / api['seconds']:.0f} req/s for {api['seconds']} s "
        f"from another process while the run executed: p50 {api['p50_ms']} ms, p99 {api['p99_ms']} ms, "
        f"max {api['max_ms']} ms, errors {api['errors'] or 'none'} (target p99 < 50 ms, 0 errors). "
        f"Run status when the load ended: {api['run_status_at_end_of_load']}.",
        "",
    ]
    return "\n".join(lines)


def request_ratios(results: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per source, alone over the longest window: requests made, the fewest possible, ratio."""
    replay = results["replay"]
    minimum = replay["rate_limit_floor"]["minimum_requests"]
    ratios = {}
    for source in e2e.SOURCES:
        made = sum(replay[source]["requests"].values())
        fewest = sum(floor.per_source(minimum, (source,)).values())
        ratios[source] = {"made": made, "minimum": fewest, "ratio": made / max(1, fewest)}
    return ratios


def _replay_markdown(results: dict[str, Any]) -> list[str]:
    replay = results["replay"]
    lines = [
        "",
        f"## The pipeline alone: against recorded pages ({replay['days']} days, "
        f"{replay['users']:,} people)",
        "",
        f"The simulator's answers to full runs were recorded once ({replay['recorded_pages']:,} "
        f"pages, {replay['recorded_megabytes']:.0f} MB for {replay['days']} days) and served "
        "again by `bench/replay.py`, a bare asyncio HTTP server that only looks a page up: what "
        "a run costs is the pipeline's own CPU. Upstream rows are list items and the results "
        "inside report buckets (Cursor usage events count one each). Median of "
        f"{results['run_repetitions']} run(s) each.",
        "",
        "| source | upstream rows | processes | wall (s) | pipeline CPU (s) "
        "| CPU-s per million rows | peak RSS per process (MB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for label in (*e2e.SOURCES, "all"):
        r = replay[label]
        lines.append(
            f"| {label} | {r['upstream_rows']:,} | {r.get('processes', 1)} | "
            f"{r['wall_seconds']:.1f} | {r['cpu_seconds']:.1f} | "
            f"{r['cpu_seconds_per_million_rows']:.0f} | {r['peak_rss_mb']:.0f} |"
        )
    windows = replay["windows"]
    cores = results["machine"]["cpus"] or 1
    lines += [
        "",
        f"The full run's parts are spread over {replay['all'].get('processes', 1)} processes "
        f"(the CLI and its worker processes, one per core). Its bound on {cores} cores: "
        f"max(slowest source alone ({replay['slowest_source']}) "
        f"{replay[replay['slowest_source']]['wall_seconds']:.1f} s, pipeline CPU ÷ cores "
        f"{replay['all']['cpu_seconds'] / cores:.1f} s) = {replay['full_run_bound_seconds']:.1f}"
        f" s. Full run ÷ that bound: **{replay['full_over_bound']:.2f}×** (target ≤ 1.1×); "
        f"÷ the slowest source alone: {replay['full_over_slowest_source']:.2f}×. PostgreSQL "
        "shares the same cores.",
        "",
        "Memory, the full run per window (the largest process): "
        + ", ".join(
            f"{days} d: {w['peak_rss_mb']:.0f} MB peak RSS, {w['wall_seconds']:.1f} s"
            for days, w in sorted(windows.items(), key=lambda item: int(item[0]))
        )
        + f". Longest ÷ shortest: **{replay['rss_ratio_long_over_short']:.2f}×** "
        "(target ≤ 1.3×).",
        "",
    ]
    return lines


def _floor_markdown(results: dict[str, Any]) -> list[str]:
    floor_run = results["replay"]["rate_limit_floor"]
    ratios = request_ratios(results)
    lines = [
        "",
        f"## Requests and the rate-limit floor ({floor_run['days']} days)",
        "",
        "The fewest requests are counted by an ideal client (`bench/floor.py`): every documented "
        "maximum page size and range, no processing, against the same simulated organisation. "
        "Requests made are counted by the replay server for each source run alone (above).",
        "",
        "| source | requests made | fewest possible | ratio |",
        "|---|---|---|---|",
    ]
    for source, r in ratios.items():
        lines.append(f"| {source} | {r['made']:,} | {r['minimum']:,} | {r['ratio']:.3f}× |")
    budgets = floor_run["floor_seconds"]
    scale = floor_run["scale"]
    lines += [
        "",
        "Target: ≤ 1.05× for every source.",
        "",
        f"Floor per rate-limit budget at the documented limits ×{scale:g} (each upstream limits "
        "its requests on its own): "
        + ", ".join(f"{budget} {seconds:.1f} s" for budget, seconds in budgets.items())
        + f". The floor of a run of every source is the slowest budget, {floor_run['floor_budget']}: "
        f"{budgets[floor_run['floor_budget']]:.1f} s here, "
        f"{floor_run['floor_seconds_documented'] / 60:.1f} minutes at the documented limits.",
        "",
        f"Every source at once, against the recorded pages served under those limits ×{scale:g} "
        "(the simulator's own budgets and 429s) and the client configured for them: "
        f"{floor_run['wall_seconds']:.1f} s = **{floor_run['wall_over_floor']:.2f}× the floor** "
        f"(target ≤ 1.10×); 429s answered: {sum(floor_run['rate_limited'].values())}. "
        "Each source's time in that run: "
        + ", ".join(
            f"{name} {sec:.0f} s" for name, sec in sorted(floor_run["source_seconds"].items())
        )
        + ".",
        "",
    ]
    return lines


def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    results = asyncio.run(_run(args))
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2, default=str))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(_markdown(results) + kept_sections(args.output))
    sys.stdout.write(_markdown(results))


if __name__ == "__main__":
    # The write path and the peer are measured in this process: configure it as the service
    # configures each of its processes.
    tune_garbage_collector()
    main()
