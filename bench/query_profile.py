"""CPU per ITI-18 request in-process (no HTTP): SOAP parse -> pipeline (parse, use case, render, audit
event) -> envelope -> serialize.

    .venv/bin/python bench/query_profile.py --database-url postgresql+psycopg://postgres@127.0.0.1/epd_bench_100k \
        --patients 10000 [--profile out.pstats] [--n 400]

Reports process CPU ms per request per scenario (``time.process_time``: robust to other load on the
box; includes the psycopg/SQLite client side of SQL, not the PostgreSQL server's CPU) and the number
of returned objects, so that an empty answer cannot pass for a fast one.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from query_bench import scenarios  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--patients", type=int, required=True)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--profile")
    ap.add_argument("--only")
    args = ap.parse_args()
    os.environ["EPD_DATABASE_URL"] = args.database_url
    os.environ.setdefault("EPD_MAX_QUERY_RESULTS", "10000")
    os.environ.setdefault("EPD_DATA_DIR", "/tmp/qw/profdata")
    from gateway.config import load_settings
    from gateway.app import Gateway
    from gateway.pipeline import Pipeline
    from gateway.soap.envelope import parse_envelope
    from gateway.soap.message import encode_reply
    from gateway.soap.xml import parse_xml
    from profiles.context import RequestContext
    settings = load_settings()
    gw = Gateway(settings)
    pipeline = Pipeline()                  # the server's stations: anonymous security, audit event
    rng = random.Random(11)
    prof = cProfile.Profile(time.process_time) if args.profile else None
    for name, make in scenarios(args.patients, 10, rng).items():
        if args.only and name not in args.only.split(","):
            continue
        bodies = [make() for _ in range(args.n + 30)]

        def one(b: bytes) -> bytes:
            env = parse_envelope(parse_xml(io.BytesIO(b)), require_action=False)
            result = pipeline.run(gw.stored_query, env, RequestContext())
            if result.fault is not None:
                raise SystemExit(f"ITI-18 faulted: {result.fault.reason}")
            reply = result.reply
            msg = encode_reply(reply, env.message_id)
            return b"".join(msg.chunks())

        for b in bodies[:30]:
            one(b)
        objs = 0
        c0, t0 = time.process_time(), time.perf_counter()
        if prof:
            prof.enable()
        for b in bodies[30:]:
            out = one(b)
        if prof:
            prof.disable()
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        s = out if isinstance(out, (bytes, bytearray)) else bytes(out)
        objs = s.count(b"<ExtrinsicObject") + s.count(b":ExtrinsicObject ")
        print(f"{name:14s} cpu {cpu / args.n * 1000:6.2f} ms/req  wall {wall / args.n * 1000:6.2f} ms/req  "
              f"last answer: {objs} ExtrinsicObjects, {len(s)} bytes", flush=True)
    if prof:
        prof.dump_stats(args.profile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
