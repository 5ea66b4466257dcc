"""CH:XUA verification per request, in-process: first use (signature verified with libxmlsec1) and a
reused assertion (cache hit by digest: the envelope checks, the SHA-256 and the time window only).

    .venv/bin/python bench/xua_bench.py [--n 2000]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from gateway.security.trust import TrustStore  # noqa: E402
from gateway.security.xua import AssertionVerifier  # noqa: E402
from support.pki import TestCA  # noqa: E402
from support.xua import envelope_with, make_assertion, soap_request  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    signer = TestCA().issue("bench X-Assertion Provider")
    assertions = [make_assertion(signer, name=f"user {i}") for i in range(args.n)]
    requests = [soap_request(envelope_with(a)) for a in assertions]

    cold = AssertionVerifier(TrustStore([signer.cert]), cache_size=0)
    t0 = time.perf_counter()
    for r in requests:
        cold.verify(r.envelope, r.header)
    first = (time.perf_counter() - t0) / len(requests)

    warm = AssertionVerifier(TrustStore([signer.cert]))
    warm.verify(requests[0].envelope, requests[0].header)
    t0 = time.perf_counter()
    for _ in range(len(requests)):
        warm.verify(requests[0].envelope, requests[0].header)
    reused = (time.perf_counter() - t0) / len(requests)
    print(f"XUA verification, {args.n} requests: first use {first * 1e6:.0f} µs/request, "
          f"reused (cached) {reused * 1e6:.0f} µs/request ({first / reused:.1f}x)")


if __name__ == "__main__":
    main()
