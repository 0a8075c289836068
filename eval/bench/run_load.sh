#!/usr/bin/env bash
# Load test of the precode service: 20 concurrent clients for 60 s (locust, eval/bench/locustfile.py)
# against `precode serve` on 127.0.0.1, then eval/results/service.md with throughput, p50/p99
# latency per endpoint and errors.
#
#   eval/bench/run_load.sh [MODEL_DIR]
#
# The model: MODEL_DIR if given, else the built-in model already trained in $MODEL_HOME (a
# PRECODE_HOME; nothing is trained here). The server gets a fresh PRECODE_HOME (its own SQLite
# database and API token), removed afterwards. Traffic goes to 127.0.0.1 only.
#
# Settings (environment): USERS (20), SPAWN_RATE (5), RUN_TIME (60s), WORKERS (server processes,
# 1), OUT (eval/results/service.md), PYTHON (.venv/bin/python), PRECODE_DATABASE_URL (an empty
# PostgreSQL database; default SQLite in the fresh home), RATE_LIMIT (requests a minute for the
# shared token; 0: none).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
BIN="$(dirname "$PYTHON")"
USERS="${USERS:-20}"
SPAWN_RATE="${SPAWN_RATE:-5}"
RUN_TIME="${RUN_TIME:-60s}"
WORKERS="${WORKERS:-1}"
OUT="${OUT:-$ROOT/eval/results/service.md}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

# ---- the model --------------------------------------------------------------------------------
if [[ $# -ge 1 ]]; then
    MODEL="$1"
elif [[ -n "${MODEL_HOME:-}" ]]; then
    MODEL="$(PRECODE_HOME="$MODEL_HOME" "$PYTHON" -c \
        'import os; from training.builtin import builtin_model_dir; print(builtin_model_dir(os.environ["PRECODE_HOME"]))')"
else
    echo "usage: $0 MODEL_DIR   (or set MODEL_HOME to a PRECODE_HOME with the built-in model)" >&2
    exit 2
fi
if [[ ! -f "$MODEL/precode.json" ]]; then
    echo "error: $MODEL is not a trained precode model directory (no precode.json)" >&2
    exit 2
fi

# ---- a fresh home, a free port, a token -------------------------------------------------------
WORK="$(mktemp -d -t precode-load-XXXXXX)"
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 30); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
export PRECODE_HOME="$WORK/home"
mkdir -p "$PRECODE_HOME"
# every simulated client sends the one token: no per-token rate limit for this run
export PRECODE_RATE_LIMIT_PER_MINUTE="${RATE_LIMIT:-0}"

PORT="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
HOST="http://127.0.0.1:$PORT"
export PRECODE_TOKEN
PRECODE_TOKEN="$("$BIN/precode" users create load-test --admin 2>/dev/null | tail -n 1 | tr -d '[:space:]')"

# ---- the server -------------------------------------------------------------------------------
echo "starting precode serve on $HOST (model $MODEL, $WORKERS worker(s))" >&2
"$BIN/precode" serve --host 127.0.0.1 --port "$PORT" --workers "$WORKERS" --model "$MODEL" \
    >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for i in $(seq 1 180); do
    if curl -sf "$HOST/readyz" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null || [[ $i -eq 180 ]]; then
        echo "error: the server did not become ready; its log:" >&2
        tail -n 40 "$WORK/server.log" >&2
        exit 1
    fi
    sleep 1
done
# /readyz answers 503 while the model loads: the log is judged from here on
READY_LINES="$(wc -l <"$WORK/server.log")"

echo "preparing a pre-coded project to list suggestions from" >&2
PRECODE_PROJECT="$(cd "$ROOT" && "$PYTHON" eval/bench/locustfile.py --prepare "$HOST")"
export PRECODE_PROJECT

# ---- the load ---------------------------------------------------------------------------------
echo "locust: $USERS users, $SPAWN_RATE/s, $RUN_TIME" >&2
set +e
(cd "$ROOT" && PRECODE_LOAD_SUMMARY="$WORK/summary.json" "$BIN/locust" -f eval/bench/locustfile.py --headless -u "$USERS" -r "$SPAWN_RATE" \
    -t "$RUN_TIME" --host "$HOST" --csv "$WORK/load" --only-summary --stop-timeout 10 \
    >"$WORK/locust.log" 2>&1)
LOCUST_RC=$?
set -e
tail -n 30 "$WORK/locust.log" >&2

kill -TERM "$SERVER_PID" 2>/dev/null || true
wait "$SERVER_PID" 2>/dev/null || true
SERVER_ERRORS="$(tail -n "+$((READY_LINES + 1))" "$WORK/server.log" \
    | grep -c -E ' 5[0-9][0-9] |Traceback|unexpected ' || true)"
cp "$WORK/summary.json" "${OUT%.md}.json" 2>/dev/null || true

# ---- the report -------------------------------------------------------------------------------
mkdir -p "$(dirname "$OUT")"
"$PYTHON" - "$WORK/summary.json" "$OUT" "$MODEL" "$USERS" "$SPAWN_RATE" "$RUN_TIME" "$WORKERS" \
    "$SERVER_ERRORS" <<'EOF'
import json
import os
import platform
import sys
import time
from importlib.metadata import version

summary_json, out, model, users, spawn_rate, run_time, workers, server_errors = sys.argv[1:]
summary = json.load(open(summary_json))


def int8_instructions() -> str:
    from models.onnx_encoder import int8_instructions as probe

    return probe()


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def row(e: dict, name: str) -> str:
    return (f"| {name} | {e['requests']} | {e['failures']} | {e['requests_per_s']:.1f} | "
            f"{e['p50_ms']:.0f} | {e['p99_ms']:.0f} | {e['max_ms']:.0f} |")


total = summary["total"]
lines = [
    "# Service load test",
    "",
    f"Written by `eval/bench/run_load.sh` on {time.strftime('%Y-%m-%d %H:%M %Z')}: locust "
    f"{version('locust')}, {users} concurrent clients (spawned at {spawn_rate}/s) for {run_time}, "
    f"each waiting 0.5-1.5 s between requests, against `precode serve --workers {workers}` on "
    f"127.0.0.1 (a fresh PRECODE_HOME); locust runs on the same machine.",
    "",
    f"Machine: {os.cpu_count()} cores ({cpu_model()}, int8 instructions: "
    f"{int8_instructions()}), {platform.machine()}, CPU only; "
    f"Python {platform.python_version()}. Model: `{os.path.basename(model.rstrip('/'))}`. "
    f"Load average when the report was written: {os.getloadavg()[0]:.1f} (other work on the "
    "machine slows the server down as much as the clients do).",
    "",
    "Clients: two in three are researchers: `POST /v1/suggest` with 1-8 participant turns from "
    "the seed corpus (weight 10), `GET /v1/projects/{id}/suggestions` of a pre-coded project "
    "(50 per page, weight 2), `GET /healthz` (weight 1); one in three reviews that project's "
    "suggestions (accept or reject, each with its own `Idempotency-Key`, weight 4) and asks its "
    "model for suggestions (weight 1).",
    f"Database: {'PostgreSQL' if os.environ.get('PRECODE_DATABASE_URL') else 'SQLite'}.",
    "",
    "Latencies are locust's percentiles (response times bucketed: 2 significant figures above "
    "100 ms), measured by the client.",
    "",
    "| endpoint | requests | errors | requests/s | p50 ms | p99 ms | max ms |",
    "|---|---|---|---|---|---|---|",
    *[row(e, e["name"]) for e in summary["endpoints"]],
    row(total, "**all**"),
    "",
    f"- Throughput: **{total['requests_per_s']:.1f} requests/s** over all endpoints; "
    f"**{total['failures']} error(s)** in {total['requests']} requests.",
]
for e in summary["endpoints"]:
    if e["name"] == "POST /v1/suggest" and e["requests"]:
        seconds = e["requests"] / e["requests_per_s"]
        segments = summary["suggest_segments"]
        lines.append(f"- Suggestions: {e['requests_per_s']:.1f} requests/s, "
                     f"{segments / seconds:.0f} segments/s ({segments / e['requests']:.1f} "
                     f"segments a request on average), p50 {e['p50_ms']:.0f} ms, "
                     f"p99 {e['p99_ms']:.0f} ms.")
lines.append(f"- Server log: {server_errors} line(s) with a 5xx answer or a traceback.")
reviews = summary.get("reviews", {})
if reviews.get("acknowledged"):
    lines.append(f"- Reviews: {reviews['acknowledged']} acknowledged, {reviews['missing']} of "
                 f"them missing from the audit trail, {reviews['duplicated']} recorded twice; "
                 f"{reviews['recorded_by_reviewers']} decisions in the trail.")
if summary["errors"]:
    lines += ["", "## Errors", "", "| endpoint | error | count |", "|---|---|---|"]
    lines += [f"| {e['name']} | {e['error']} | {e['occurrences']} |" for e in summary["errors"]]
lines.append("")
open(out, "w").write("\n".join(lines))
print(f"wrote {out}", file=sys.stderr)
EOF
exit "$LOCUST_RC"
