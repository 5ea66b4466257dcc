"""Annex 3 validation cost of one ITI-41 submission of N documents (default 10).

Measures (median and p95 over many runs, after a warm-up):
  * validate  -- profiles.ch.annex3.validate_submission over the parsed model (parse excluded);
  * parse+validate -- lxml parse of the SubmitObjectsRequest bytes + ebrim.parse_submission + validate.
The submission is the EPR-by-example ITI-41 sample cloned to N documents, every annex 3 attribute
filled (tests/annex3/builder.py). Target: < 2 ms per 10-document submission.

    .venv/bin/python bench/validation_bench.py [--docs 10] [--runs 2000]
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lxml import etree  # noqa: E402

from gateway.clients.submission import DocumentSpec, provide_and_register_request  # noqa: E402
from profiles.ch.annex3 import validate_submission  # noqa: E402
from profiles.ch.valuesets import ValueSets  # noqa: E402
from profiles.xds.ebrim import parse_submission  # noqa: E402


def _time(fn, runs: int) -> list[float]:
    for _ in range(min(200, runs)):
        fn()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def _fmt(name: str, ms: list[float]) -> str:
    ms = sorted(ms)
    p95 = ms[int(len(ms) * 0.95) - 1]
    return f"{name:<16} median {statistics.median(ms):.3f} ms   p95 {p95:.3f} ms   min {ms[0]:.3f} ms"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=10)
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--plain", action="store_true", help="documents as in the sample (no extra attributes)")
    a = ap.parse_args(argv)

    t0 = time.perf_counter()
    vs = ValueSets.load()
    load_ms = (time.perf_counter() - t0) * 1000.0
    # the project's own client builds the submission (bench/ imports nothing from tests/): annex 3
    # codes by default; --plain: no author / optional attributes beyond the client's defaults
    pid = "b3a3c2e0-5d1c-4a57-9a6e-000000000001^^^&2.16.756.5.30.1.999.1.1&ISO"
    body, _parts = provide_and_register_request(pid, [DocumentSpec(b"%%PDF-1.4 bench %d" % i, title=f"doc {i}")
                                                      for i in range(a.docs)])
    sor = body.find("{urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0}SubmitObjectsRequest")
    xml = etree.tostring(sor)
    sub, errors = parse_submission(sor)
    assert not errors and not validate_submission(sub, vs), "the benchmark submission must be valid"
    parser = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True)

    def validate():
        validate_submission(sub, vs)

    def parse_and_validate():
        s, _ = parse_submission(etree.fromstring(xml, parser))
        validate_submission(s, vs)

    print(f"python {platform.python_version()}  lxml {etree.__version__}  {platform.machine()}  "
          f"release {vs.version}")
    print(f"value sets loaded in {load_ms:.1f} ms; submission: {a.docs} documents, {len(xml)} bytes of ebRIM")
    print(_fmt("validate", _time(validate, a.runs)))
    print(_fmt("parse+validate", _time(parse_and_validate, a.runs)))
    print(_fmt("  of which parse", _time(lambda: parse_submission(etree.fromstring(xml, parser)), a.runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
