"""ITI-41 side by side in one run: several servers on the same pre-built requests, interleaved.

Machines of one kind differ up to 4x in CPU per request, so a figure counts only as a ratio measured
in one run. Each target is a checkout with its own ``.venv`` (e.g. the commit before a change in a
git worktree, and the change) or the floor server (``bench/floor_server.py``). Every round runs each
target once, in alternating order, each on a fresh database and data directory, on the same
pre-encoded requests (the patient is opened with the same MPI-PID everywhere); the report gives each
run and the median ratio of every target to the first one.

    git worktree add /tmp/base <commit-before>; (cd /tmp/base && python3 -m venv .venv && .venv/bin/pip install -q -e .)
    .venv/bin/python bench/ab_xds.py --db postgresql --rounds 3 --count 3000 --warmup 300 \
        base=/tmp/base new=. floor=floor
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from machine import announce  # noqa: E402
from xds_bench import backend_pids, build_requests, machine_cpu, pct, proc_cpu, run_load  # noqa: E402

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/"
MPI_PID = "b3a3c2e0-5d1c-4a57-9a6e-000000000001"
EPR_SPID = "761337610411353650"


def _admin(sql: str) -> None:
    import psycopg
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as c:
        c.execute(sql)


class Target:
    def __init__(self, name: str, where: str, db: str, workers: int, port: int, env_extra: dict) -> None:
        self.name, self.where, self.db, self.workers, self.port = name, where, db, workers, port
        self.env_extra = env_extra
        self.floor = where == "floor"
        self.bin = None if self.floor else Path(where).resolve() / ".venv" / "bin"

    def setup(self) -> None:
        self.data = tempfile.mkdtemp(prefix=f"ab-{self.name}-")
        self.dbname = None
        if self.db == "postgresql":
            self.dbname = f"ab_{self.name}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            _admin(f'CREATE DATABASE "{self.dbname}"')
            url = PG + self.dbname
        else:
            url = "sqlite:///" + str(Path(self.data) / "epd-gateway.sqlite")
        self.env = dict(os.environ, EPD_DATA_DIR=self.data, EPD_DATABASE_URL=url, **self.env_extra)
        self.url = url
        if self.floor:
            return
        # cwd: the data dir, never a checkout (``python -m`` workers would import the cwd's code)
        subprocess.run([self.bin / "epd-gateway", "db", "upgrade"], env=self.env, check=True,
                       stdout=subprocess.DEVNULL, cwd=self.data)
        out = subprocess.run([self.bin / "epd-gateway", "patient", "add", "--epr-spid", EPR_SPID, "--family", "Muster",
                              "--given", "Anna", "--birth-date", "1980-01-02", "--gender", "F", "--mpi-pid", MPI_PID],
                             env=self.env, check=True, capture_output=True, text=True, cwd=self.data)
        self.pid_cx = out.stdout.strip().splitlines()[-1]

    def start(self) -> None:
        self.log = open(Path(self.data) / "server.log", "wb")
        if self.floor:
            cmd = [sys.executable, str(ROOT / "bench" / "floor_server.py"), "--port", str(self.port), "--workers",
                   str(self.workers), "--data-dir", self.data, "--database-url", self.url]
        else:
            cmd = [str(self.bin / "epd-gateway"), "serve", "--port", str(self.port), "--workers", str(self.workers),
                   "--data-dir", self.data]
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True, cwd=self.data)
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2).read()
                if len(self.serving_pids()) >= self.workers:
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                self.log.flush()
                tail = Path(self.log.name).read_text(errors="replace")[-3000:]
                raise SystemExit(f"{self.name} did not start:\n{tail}")
            time.sleep(0.2)
        time.sleep(1.0)

    def serving_pids(self) -> list[int]:
        try:
            kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except OSError:
            return []
        return [int(k) for k in kids] or [self.proc.pid]

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.dbname:
            _admin(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
        shutil.rmtree(self.data, ignore_errors=True)


def run_one(t: Target, reqs: list[bytes], warmup: int, clients: int) -> dict:
    t.setup()
    try:
        t.start()
        _lat, fail, _wall = run_load(t.port, reqs[:warmup], clients)
        if fail:
            raise SystemExit(f"{t.name}: {fail} failures in the warm-up; see {t.log.name}")
        pids = t.serving_pids()
        srv0 = sum(proc_cpu(p) for p in pids)
        backends = backend_pids(t.dbname)
        pg0 = {p: proc_cpu(p) for p in backends}
        m0 = machine_cpu()
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        lat, fail, wall = run_load(t.port, reqs[warmup:], clients)
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        m1 = machine_cpu()
        n = len(reqs) - warmup
        srv = sum(proc_cpu(p) for p in pids) - srv0
        pg = sum(max(0.0, proc_cpu(p) - pg0[p]) for p in backends)
        return {"target": t.name, "rate": n / wall, "p50": pct(lat, 50) * 1000, "p99": pct(lat, 99) * 1000,
                "failures": fail, "cpu_ms": srv / n * 1000, "pg_ms": pg / n * 1000,
                "client_cpu": (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime),
                "busy": (m1[0] - m0[0]) / max(1, m1[1] - m0[1]) * 100}
    finally:
        t.cleanup()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("targets", nargs="+", help="NAME=CHECKOUT_DIR or NAME=floor; the first is the reference")
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="postgresql")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--size", type=int, default=10 * 1024)
    ap.add_argument("--port", type=int, default=18485)
    ap.add_argument("--env", action="append", default=[], help="NAME:KEY=VALUE environment for one target")
    args = ap.parse_args()
    announce()
    extra: dict[str, dict] = {}
    for spec in args.env:
        name, _, kv = spec.partition(":")
        k, _, v = kv.partition("=")
        extra.setdefault(name, {})[k] = v
    targets = []
    for spec in args.targets:
        name, _, where = spec.partition("=")
        targets.append(Target(name, where, args.db, args.workers, args.port, extra.get(name, {})))
    pid_cx = f"{MPI_PID}^^^&2.16.756.5.30.1.999.1.1&ISO"
    t0 = time.perf_counter()
    reqs = build_requests(pid_cx, args.warmup + args.count, args.size, args.port)
    print(f"pre-encoded {len(reqs)} requests ({len(reqs[-1])} bytes each) in {time.perf_counter() - t0:.1f} s",
          flush=True)
    results: dict[str, list[dict]] = {t.name: [] for t in targets}
    for r in range(args.rounds):
        order = targets if r % 2 == 0 else list(reversed(targets))
        for t in order:
            res = run_one(t, reqs, args.warmup, args.clients)
            results[t.name].append(res)
            print(f"round {r + 1} {t.name:>8}: {res['rate']:7.1f} subm/s, p50 {res['p50']:6.1f} ms, p99 "
                  f"{res['p99']:6.1f} ms, server CPU {res['cpu_ms']:.2f} ms + PostgreSQL {res['pg_ms']:.2f} ms "
                  f"per submission, failures {res['failures']}, machine busy {res['busy']:.0f}%", flush=True)
    ref = targets[0].name
    print(f"\nmedians ({args.rounds} rounds, {args.db}, {args.clients} clients, {args.size // 1024} KB, "
          f"{args.workers} workers); ratio to {ref} per round, then its median:")
    for t in targets:
        rates = [x["rate"] for x in results[t.name]]
        cpus = [x["cpu_ms"] for x in results[t.name]]
        ratios = [a["rate"] / b["rate"] for a, b in zip(results[t.name], results[ref])]
        cratios = [a["cpu_ms"] / b["cpu_ms"] for a, b in zip(results[t.name], results[ref])]
        print(f"  {t.name:>8}: {statistics.median(rates):7.1f} subm/s (x{statistics.median(ratios):.2f}; "
              f"rounds {', '.join(f'{x:.2f}' for x in ratios)}), server CPU {statistics.median(cpus):.2f} ms/subm "
              f"(x{statistics.median(cratios):.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
