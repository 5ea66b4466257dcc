"""CH:XUA verification per request, in-process: first use (signature verified with libxmlsec1) and a
reused assertion (cache hit by digest: the envelope checks, the SHA-256 and the time window only).

    .venv/bin/python bench/xua_bench.py [--n 2000]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # the package only, nothing from tests/

from gateway.clients.soap import add_security_header  # noqa: E402
from gateway.security.provider import AssertionRequest, DevelopmentProvider  # noqa: E402
from gateway.security.trust import TrustStore, load_certificates  # noqa: E402
from gateway.security.xua import AssertionVerifier  # noqa: E402
from gateway.soap.envelope import build_envelope, parse_envelope  # noqa: E402
from lxml import etree  # noqa: E402


def _request(assertion: bytes):
    env = build_envelope(etree.Element("{urn:bench}q"), "urn:ihe:iti:2007:RegistryStoredQuery", None, "urn:uuid:1")
    add_security_header(env, assertion)
    return parse_envelope(etree.fromstring(etree.tostring(env)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    provider = DevelopmentProvider(tempfile.mkdtemp(prefix="xua-bench-"))   # the development signer
    assertions = [provider.issue(AssertionRequest(role="HCP", subject="7601000000019", name=f"user {i}",
                                                  patient="761337610411353650",
                                                  home_community_id="urn:oid:2.16.756.5.30.1.999.1",
                                                  organizations=["2.16.756.5.30.1.999.7"]))
                  for i in range(args.n)]
    requests = [_request(a) for a in assertions]
    trust = load_certificates(provider.certificate_pem())

    cold = AssertionVerifier(TrustStore(trust), cache_size=0)
    t0 = time.perf_counter()
    for r in requests:
        cold.verify(r.envelope, r.header)
    first = (time.perf_counter() - t0) / len(requests)

    warm = AssertionVerifier(TrustStore(trust))
    warm.verify(requests[0].envelope, requests[0].header)
    t0 = time.perf_counter()
    for _ in range(len(requests)):
        warm.verify(requests[0].envelope, requests[0].header)
    reused = (time.perf_counter() - t0) / len(requests)
    print(f"XUA verification, {args.n} requests: first use {first * 1e6:.0f} µs/request, "
          f"reused (cached) {reused * 1e6:.0f} µs/request ({first / reused:.1f}x)")


if __name__ == "__main__":
    main()
