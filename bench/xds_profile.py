"""CPU per ITI-41 submission in-process (no HTTP): MTOM decode -> envelope -> handler -> reply bytes.

    .venv/bin/python bench/xds_profile.py --db postgresql [--n 600] [--profile out.pstats]

Runs the repository endpoint's own request path (``SoapEndpoint._process``, what a worker thread
does for each POST) on a fresh data dir and, for PostgreSQL, a fresh database (dropped at the end),
with the same requests as ``xds_bench.py --mode small`` (one 10 KB document, fresh uniqueIds).
Reports the process CPU ms per submission (``time.process_time``: robust to other load on the box;
it includes the client side of SQL, not the PostgreSQL server's CPU), the wall time per submission,
and the number of SQL statements per submission; every answer must be a Success.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from xds_bench import SUCCESS, Gateway as BenchGateway, build_requests  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--size", type=int, default=10 * 1024)
    ap.add_argument("--profile")
    args = ap.parse_args()
    env = BenchGateway(args.db, 1, 0)          # data dir, database, schema and one patient
    try:
        os.environ.update(env.env)
        from sqlalchemy import event
        from gateway.app import Gateway
        from gateway.config import load_settings
        from profiles.context import RequestContext
        settings = load_settings()
        gw = Gateway(settings)
        root = gw.build_root()
        endpoint = root.children[b"xds"].children[b"repository"]
        statements = [0]
        event.listen(gw.engine, "before_cursor_execute", lambda *a, **k: statements.__setitem__(0, statements[0] + 1))
        raw = build_requests(env.pid_cx, args.n + 50, args.size, 1)
        reqs = []
        for r in raw:
            head, body = r.split(b"\r\n\r\n", 1)
            ctype = [ln.split(b":", 1)[1].strip().decode() for ln in head.split(b"\r\n")
                     if ln.lower().startswith(b"content-type:")][0]
            reqs.append(({"content-type": ctype}, body))

        def one(headers, body) -> bytes:
            outcome = endpoint._process(RequestContext(), headers, io.BytesIO(body), "127.0.0.1")
            out = b"".join(outcome.message.chunks())
            outcome.cleanup()
            if SUCCESS not in out:
                raise SystemExit(out[:2000])
            return out

        for h, b in reqs[:50]:
            one(h, b)
        prof = cProfile.Profile(time.process_time) if args.profile else None
        statements[0] = 0
        c0, t0 = time.process_time(), time.perf_counter()
        if prof:
            prof.enable()
        for h, b in reqs[50:]:
            one(h, b)
        if prof:
            prof.disable()
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        print(f"ITI-41 ({args.db}, {args.size} B document): cpu {cpu / args.n * 1000:.2f} ms/submission, "
              f"wall {wall / args.n * 1000:.2f} ms/submission, {statements[0] / args.n:.1f} SQL statements "
              f"per submission, {args.n} submissions")
        if prof:
            prof.dump_stats(args.profile)
        gw.engine.dispose()
    finally:
        env.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
