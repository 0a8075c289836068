"""How soon ``precode serve`` answers, and how soon it is ready, on a fresh ``PRECODE_HOME``.

Each run starts a real ``precode serve`` in a new process on a new home (and so a new SQLite
database, migrated as the server starts) and polls ``/healthz`` and ``/readyz`` every 20 ms from
the moment the process starts; then stops it with Ctrl-C (SIGINT) and times the stop. The model
is what the environment names (``PRECODE_MODEL_DIR``, else the built-in model from the machine's
cache, ``PRECODE_CACHE_DIR``).

    python -m eval.bench.startup --runs 7

prints one line per run and the median and worst of each figure, with the load average of the
machine before and after (the figures are wall-clock times: on shared cores, load adds to them).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

POLL = 0.02


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, path: str) -> tuple[int, dict] | None:
    """(status, JSON body), or None while nothing answers."""
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        connection.close()
    except OSError:
        return None
    try:
        return response.status, json.loads(body)
    except ValueError:
        return response.status, {}


def _cpu_seconds(pid: int) -> float:
    """User and system CPU seconds the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_once(home: Path, *, ready_timeout: float, source: Path | None = None) -> dict:
    port = _free_port()
    env = {**os.environ, "PRECODE_HOME": str(home)}
    command = [str(Path(sys.executable).parent / "precode")]
    if source is not None:  # the command line of another checkout, e.g. an earlier version
        command = [sys.executable, "-c", "from service.cli import app; app()"]
        env["PYTHONPATH"] = str(source)
    log = (home.parent / f"{home.name}.log").open("w")
    started = time.monotonic()
    proc = subprocess.Popen([*command, "serve", "--port", str(port)], stdout=log,
                            stderr=subprocess.STDOUT, env=env, cwd=source)
    out: dict = {"healthz_s": None, "cpu_s": None, "ready_s": None, "statuses": []}
    try:
        while time.monotonic() - started < ready_timeout and proc.poll() is None:
            if out["healthz_s"] is None:
                answer = _get(port, "/healthz")
                if answer is not None and answer[0] == 200:
                    out["healthz_s"] = time.monotonic() - started
                    out["cpu_s"] = _cpu_seconds(proc.pid)
            if out["healthz_s"] is not None:
                answer = _get(port, "/readyz")
                if answer is not None:
                    status = answer[1].get("status")
                    if status not in out["statuses"]:
                        out["statuses"].append(status)
                    if answer[0] == 200:
                        out["ready_s"] = time.monotonic() - started
                        break
            time.sleep(POLL)
    finally:
        stopping = time.monotonic()
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        out["stop_s"] = time.monotonic() - stopping
        out["exit_code"] = proc.returncode
        log.close()
    return out


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--ready-timeout", type=float, default=120.0,
                        help="seconds to wait for /readyz 200 in each run")
    parser.add_argument("--json", type=Path, help="also write the runs here")
    parser.add_argument("--source", type=Path, help="run the command line of this checkout "
                                                    "(to compare with an earlier version)")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    runs = []
    with tempfile.TemporaryDirectory(prefix="precode-startup-") as tmp:
        for i in range(args.runs):
            run = run_once(Path(tmp) / f"home{i}", ready_timeout=args.ready_timeout,
                           source=args.source)
            runs.append(run)
            print(f"run {i + 1}: /healthz {_fmt(run['healthz_s'])} s (CPU {_fmt(run['cpu_s'])} s),"
                  f" ready {_fmt(run['ready_s'])} s, stopped in {_fmt(run['stop_s'])} s "
                  f"(exit {run['exit_code']}); /readyz said {run['statuses']}", flush=True)
    load_after = os.getloadavg()
    summary = {"runs": runs, "load_before": load_before, "load_after": load_after}
    for key in ("healthz_s", "cpu_s", "ready_s", "stop_s"):
        values = [r[key] for r in runs if r[key] is not None]
        if values:
            summary[key] = {"median": statistics.median(values), "worst": max(values)}
            print(f"{key}: median {_fmt(summary[key]['median'])}, worst "
                  f"{_fmt(summary[key]['worst'])} ({len(values)} of {len(runs)} runs)")
    print("load average (1, 5, 15 min) before: " + ", ".join(f"{v:.1f}" for v in load_before) +
          "; after: " + ", ".join(f"{v:.1f}" for v in load_after))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
