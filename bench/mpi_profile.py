"""Where the CPU of one PIX/PDQ request goes: runs the endpoint's request processing in-process
(``SoapEndpoint._process``: SOAP decode/parse, HL7 V3, store, SOAP encode; Twisted's HTTP layer
excluded) under cProfile and splits the time by layer.

    .venv/bin/python bench/mpi_profile.py postgresql+psycopg://postgres@127.0.0.1:5432/mpi_bench_1000000 \
        --patients 1000000 -n 2000
"""
from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import mpi_bench as mb  # noqa: E402
from gateway.config import Settings  # noqa: E402
from gateway.endpoints.pdq import build_pdq_endpoint  # noqa: E402
from gateway.endpoints.pix import build_pix_endpoint  # noqa: E402
from gateway.store.db import make_engine  # noqa: E402
from gateway.store.mpi import MpiStore  # noqa: E402
from profiles.context import RequestContext  # noqa: E402

LAYERS = (("gateway/soap", "SOAP (gateway/soap)"), ("gateway/http", "SOAP endpoint (gateway/http)"),
          ("profiles/hl7v3", "HL7 V3 (profiles/hl7v3)"), ("gateway/store", "store (gateway/store)"),
          ("sqlalchemy", "SQLAlchemy"), ("psycopg", "psycopg"), ("lxml", "lxml"), ("json", "json"))


def split(stats: pstats.Stats) -> dict[str, float]:
    """Self time per layer (C functions counted in the layer of their caller file)."""
    out: dict[str, float] = {}
    for (file, _line, name), (_cc, _nc, tt, _ct, callers) in stats.stats.items():
        key = "other"
        probe = file if file != "~" else ""
        if not probe:   # builtin: attribute to the first caller's file
            for (cf, _l, _n) in callers:
                probe = cf
                break
        for frag, label in LAYERS:
            if frag in probe:
                key = label
                break
        if file == "~" and ("sqlite3" in name or "psycopg" in name or "method 'execute'" in name
                            or "fetch" in name):
            key = "DB driver (C)"
        out[key] = out.get(key, 0.0) + tt
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--patients", type=int, default=1_000_000)
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--top", type=int, default=30)
    args = ap.parse_args()
    settings = Settings(database_url=args.url, mpi_oid=mb.MPI_OID)
    store = MpiStore(make_engine(args.url), settings.mpi_oid)
    pix, pdq = build_pix_endpoint(settings, store), build_pdq_endpoint(settings, store)
    rnd = random.Random(3)
    pick = [rnd.randrange(args.patients) for _ in range(args.n)]
    cases = {
        "ITI-47": (pdq, [mb.iti47(mb.person(i)[0], f"{mb.person(i)[3]:%Y%m%d}").encode() for i in pick], b'code="OK"'),
        "ITI-45": (pix, [mb.iti45(mb.feed_for(i).local_ids[-1]).encode() for i in pick], b'code="OK"'),
    }
    for name, (ep, bodies, check) in cases.items():
        action = "urn:hl7-org:v3:" + ("PRPA_IN201305UV02" if name == "ITI-47" else "PRPA_IN201309UV02")
        headers = {"content-type": f'application/soap+xml; charset=UTF-8; action="{action}"'}

        def one(body: bytes) -> bytes:
            out = ep._process(RequestContext(remote_addr="127.0.0.1"), headers, io.BytesIO(body), "127.0.0.1")
            data = out.message.body
            out.cleanup()
            return data
        for b in bodies[:50]:
            assert check in one(b), one(b)[:2000]
        t0, c0 = time.perf_counter(), time.process_time()
        for b in bodies:
            one(b)
        plain = (time.perf_counter() - t0) / len(bodies)
        cpu = (time.process_time() - c0) / len(bodies)
        prof = cProfile.Profile()
        prof.enable()
        for b in bodies:
            one(b)
        prof.disable()
        st = pstats.Stats(prof)
        total = sum(v[2] for v in st.stats.values())
        print(f"\n== {name}: {plain * 1000:.2f} ms wall, {cpu * 1000:.2f} ms CPU of this process per request "
              f"without profiler (n={len(bodies)})")
        for k, v in sorted(split(st).items(), key=lambda kv: -kv[1]):
            print(f"   {v / total:6.1%}  {k}")
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(args.top)
        print("\n".join(s.getvalue().splitlines()[6:6 + args.top + 3]))


if __name__ == "__main__":
    main()
