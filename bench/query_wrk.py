"""ITI-18 over the SOAP endpoint of a real ``epd-gateway serve``, load from ``wrk`` (C, epoll).

    .venv/bin/python bench/query_wrk.py --database-url postgresql+psycopg://postgres@127.0.0.1/epd_bench_1m \
        --patients 100000 --workers 2 --clients 8 --duration 20
    .venv/bin/python bench/query_wrk.py --data-dir /tmp/qb/s1m --patients 100000 --workers 2     # SQLite

The four scenarios of ``query_bench.py`` (same request generator, seed 7), pre-built: 2,000 distinct
envelopes per scenario written one per line, cycled over by ``bench/query_wrk.lua`` (each wrk thread
its own share). Every answer is checked (HTTP 200 + Success) and its ExtrinsicObjects counted, so an
empty answer (patient unknown to the MPI) shows up as ``empty=``. Per run: wrk's latency histogram
(p50/p90/p99), qps, and the CPU used during the run by wrk (``/usr/bin/time``), by the server's
processes and by the PostgreSQL backends, and the whole box (``/proc/stat``: others' load shows up
as the difference).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from machine import announce  # noqa: E402

from query_bench import scenarios, start_server  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1


def _proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, IndexError):
        return 0.0


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(x) for x in out]


def _postgres_pids() -> list[int]:
    out = subprocess.run(["pgrep", "-u", "postgres"], capture_output=True, text=True).stdout.split()
    return [int(x) for x in out]


def _box() -> tuple[float, float]:
    vals = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = vals[3] + vals[4]
    return sum(vals) / TICK, idle / TICK


def run_wrk(url: str, bodies: Path, clients: int, duration: int, server_pid: int, label: str) -> dict:
    threads = min(2, clients)
    cmd = ["/usr/bin/time", "-f", "WRKCPU %U %S %e", "wrk", "-t", str(threads), "-c", str(clients),
           "-d", f"{duration}s", "--timeout", "10s", "--latency", "-s", str(ROOT / "bench" / "query_wrk.lua"),
           url, "--", str(bodies), str(threads)]
    server_pids = [server_pid] + _children(server_pid)
    pg = _postgres_pids()
    s0 = sum(_proc_cpu(p) for p in server_pids)
    p0 = {p: _proc_cpu(p) for p in pg}
    b0 = _box()
    out = subprocess.run(cmd, capture_output=True, text=True)
    b1 = _box()
    s1 = sum(_proc_cpu(p) for p in server_pids)
    p1 = sum(_proc_cpu(p) - p0.get(p, 0.0) for p in _postgres_pids())
    text = out.stdout + out.stderr
    m = re.search(r"RESULT (.*)", text)
    if not m:
        raise SystemExit(f"wrk failed: {text[-2000:]}")
    res = {k: float(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    u, s_, e = (float(x) for x in re.search(r"WRKCPU (\S+) (\S+) (\S+)", text).groups())
    wall = b1[0] - b0[0]
    busy = wall - (b1[1] - b0[1])
    res.update(wrk_cpu=(u + s_) / e / NCPU, server_cpu=(s1 - s0) / e / NCPU, pg_cpu=p1 / e / NCPU,
               box_busy=busy / wall if wall else 0.0,
               server_ms_per_req=(s1 - s0) * 1000 / max(res["requests"], 1),
               pg_ms_per_req=p1 * 1000 / max(res["requests"], 1))
    print(f"{label:14s} p50 {res['p50'] / 1000:6.1f} ms  p90 {res['p90'] / 1000:6.1f}  p99 {res['p99'] / 1000:6.1f}  "
          f"qps {res['rps']:6.0f}  n={res['requests']:.0f} bad={res['bad']:.0f} err={res['errors']:.0f} "
          f"empty={res['empty']:.0f}/{res['sampled']:.0f} objs/answer={res['objects_per_answer']:.1f} | CPU share of {NCPU} cores: "
          f"wrk {res['wrk_cpu']:.0%} server {res['server_cpu']:.0%} postgres {res['pg_cpu']:.0%} "
          f"box busy {res['box_busy']:.0%} | server {res['server_ms_per_req']:.2f} ms/req, "
          f"pg {res['pg_ms_per_req']:.2f} ms/req", flush=True)
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir")
    ap.add_argument("--database-url")
    ap.add_argument("--patients", type=int, required=True)
    ap.add_argument("--per-patient", type=int, default=10)
    ap.add_argument("--clients", default="8", help="comma-separated concurrency levels")
    ap.add_argument("--duration", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--bodies", type=int, default=2000)
    ap.add_argument("--only")
    ap.add_argument("--out", default="/tmp/qw/bodies")
    ap.add_argument("--json")
    args = ap.parse_args()
    announce()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, make in scenarios(args.patients, args.per_patient, random.Random(7)).items():
        if args.only and name not in args.only.split(","):
            continue
        f = out / f"{name}-{args.patients}.txt"
        f.write_bytes(b"\n".join(make() for _ in range(args.bodies)) + b"\n")
        files[name] = f
    proc, port = start_server(args)
    url = f"http://127.0.0.1:{port}/xds/registry"
    results = {}
    try:
        time.sleep(1)
        for name, f in files.items():
            run_wrk(url, f, 8, args.warmup, proc.pid, f"{name} warm-up")
            for c in (int(x) for x in args.clients.split(",")):
                results[f"{name}/{c}"] = run_wrk(url, f, c, args.duration, proc.pid, f"{name} c={c}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
