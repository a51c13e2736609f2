#!/usr/bin/env bash
# CPU of one source's 30-day run under two commits, interleaved against one simulator, each on a
# fresh database: a change's cost without the machine's drift between two `make bench` runs.
#
#   bench/ab_cpu.sh REV_A REV_B SOURCE [ROUNDS] [USERS]
#
# Needs the PostgreSQL at 127.0.0.1:5432 (user postgres, trust) and `make install`. Prints
# "rev round: user-seconds system-seconds max-RSS-KB" per run.
set -euo pipefail
A=$1 B=$2 SOURCE=$3 ROUNDS=${4:-2} USERS=${5:-3000}
ROOT=$(git rev-parse --show-toplevel) PY=$ROOT/.venv/bin/python
WORK=$(mktemp -d) PORT=9555
trap 'kill $SIM 2>/dev/null || true; for r in "$A" "$B"; do git -C "$ROOT" worktree remove --force "$WORK/$r" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT
for rev in "$A" "$B"; do git -C "$ROOT" worktree add -q --detach "$WORK/$rev" "$rev"; done
PYTHONPATH=$WORK/$B "$PY" -m app.cli simulate --port $PORT --users "$USERS" >/dev/null 2>&1 & SIM=$!
sleep 5
export CURSOR_API_KEY=sim-cursor-key ANTHROPIC_ADMIN_API_KEY=sk-ant-admin01-sim LOG_LEVEL=WARNING \
  CURSOR_API_BASE_URL=http://127.0.0.1:$PORT ANTHROPIC_API_BASE_URL=http://127.0.0.1:$PORT \
  CLAUDE_AI_ACTIVITY_ENABLED=true ANTHROPIC_COMPLIANCE_API_KEY=sk-ant-api01-sim-compliance \
  ANTHROPIC_ANALYTICS_API_KEY=sk-ant-analytics-sim CURSOR_REQUESTS_PER_MINUTE=600000 \
  CURSOR_EVENTS_REQUESTS_PER_MINUTE=600000 ANTHROPIC_REQUESTS_PER_MINUTE=600000 \
  ANTHROPIC_COMPLIANCE_REQUESTS_PER_MINUTE=600000 ANTHROPIC_ANALYTICS_REQUESTS_PER_MINUTE=600000
for round in $(seq 1 "$ROUNDS"); do
  for rev in "$A" "$B"; do
    db=ab_$(date +%s%N)
    psql -qh 127.0.0.1 -U postgres -c "CREATE DATABASE $db" >/dev/null
    export DATABASE_URL=postgresql://postgres@127.0.0.1:5432/$db
    cd "$WORK/$rev"
    PYTHONPATH=$WORK/$rev "$PY" -m app.cli migrate >/dev/null 2>&1
    PYTHONPATH=$WORK/$rev /usr/bin/time -o "$WORK/time" -f "%U %S %M" "$PY" -m app.cli run \
      --start 2026-10-01 --end 2026-10-30 --sources "$SOURCE" >/dev/null 2>&1 || true
    echo "$rev $round: $(cat "$WORK/time")"
    psql -qh 127.0.0.1 -U postgres -c "DROP DATABASE $db WITH (FORCE)" >/dev/null
  done
done
