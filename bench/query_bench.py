"""ITI-18 latency and throughput over the SOAP endpoint of a real server (``epd-gateway serve``).

    .venv/bin/python bench/query_bench.py --data-dir /tmp/qb/s1m --patients 100000          # SQLite
    .venv/bin/python bench/query_bench.py --database-url postgresql+psycopg://postgres@127.0.0.1/epd_bench_1m \
        --patients 100000

Loads nothing: point it at a registry made by ``bench/registry_load.py`` (same --patients). Starts the
server on a free port (default worker count: one per core), then for each scenario runs ``--clients``
concurrent clients (threads, one keep-alive HTTP connection each) sending ``--requests`` SOAP 1.2
requests each, after a warm-up, and prints p50/p99 latency and throughput:

* find-patient:   FindDocuments for one random patient (~10 entries, Approved+Deprecated), LeafClass
* find-filtered:  FindDocuments with a classCode list and a creationTime range, LeafClass
* get-unique-id:  GetDocuments by uniqueId, LeafClass
* related:        GetRelatedDocuments (RPLC, XFRM) of a replaced entry, LeafClass
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from profiles.xds import constants as C  # noqa: E402
from profiles.xds import stored_queries as S  # noqa: E402

MPI_OID = "2.16.756.5.30.1.999.1.1"
BOTH = ("('urn:oasis:names:tc:ebxml-regrep:StatusType:Approved',"
        "'urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated')")
APPROVED = "('urn:oasis:names:tc:ebxml-regrep:StatusType:Approved')"


def envelope(query_id: str, slots: list[tuple[str, str]], return_type: str = "LeafClass") -> bytes:
    slot_xml = "".join(f'<rim:Slot name="{n}"><rim:ValueList><rim:Value>{v.replace("&", "&amp;")}</rim:Value>'
                       f"</rim:ValueList></rim:Slot>" for n, v in slots)
    return (f'<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" '
            f'xmlns:wsa="http://www.w3.org/2005/08/addressing"><soap:Header>'
            f'<wsa:Action soap:mustUnderstand="1">{C.ACTION_ITI18}</wsa:Action>'
            f'<wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID>'
            f'<wsa:To>http://127.0.0.1/xds/registry</wsa:To></soap:Header><soap:Body>'
            f'<query:AdhocQueryRequest xmlns:query="{C.NS_QUERY}" xmlns:rim="{C.NS_RIM}">'
            f'<query:ResponseOption returnType="{return_type}" returnComposedObjects="true"/>'
            f'<rim:AdhocQuery id="{query_id}">{slot_xml}</rim:AdhocQuery></query:AdhocQueryRequest>'
            f"</soap:Body></soap:Envelope>").encode()


def patient(p: int) -> str:
    return f"'BP{p:07d}^^^&{MPI_OID}&ISO'"


def class_codes() -> list[str]:
    vs = json.loads((ROOT / "profiles" / "ch" / "data" / "annex3-valuesets.json").read_text())
    return [f"{c['code']}^^{c['system']}" for c in vs["classCode"]["codes"]]


def scenarios(patients: int, per_patient: int, rng: random.Random):
    classes = class_codes()

    def find_patient():
        return envelope(S.FIND_DOCUMENTS, [("$XDSDocumentEntryPatientId", patient(rng.randrange(patients))),
                                           ("$XDSDocumentEntryStatus", BOTH)])

    def find_filtered():
        picks = rng.sample(classes, 6)
        return envelope(S.FIND_DOCUMENTS, [("$XDSDocumentEntryPatientId", patient(rng.randrange(patients))),
                                           ("$XDSDocumentEntryStatus", APPROVED),
                                           ("$XDSDocumentEntryClassCode", "(" + ",".join(f"'{c}'" for c in picks) + ")"),
                                           ("$XDSDocumentEntryCreationTimeFrom", "2017"),
                                           ("$XDSDocumentEntryCreationTimeTo", "20240701")])

    def get_unique_id():
        n = rng.randrange(patients * per_patient)
        return envelope(S.GET_DOCUMENTS, [("$XDSDocumentEntryUniqueId", f"('2.999.1000.{n}')")])

    def related():
        n = rng.randrange(patients) * per_patient          # the first entry of a patient: replaced (RPLC)
        return envelope(S.GET_RELATED_DOCUMENTS, [("$XDSDocumentEntryUniqueId", f"'2.999.1000.{n}'"),
                                                  ("$AssociationTypes", f"('{C.ASSOC_RPLC}','{C.ASSOC_XFRM}')")])

    return {"find-patient": find_patient, "find-filtered": find_filtered, "get-unique-id": get_unique_id,
            "related": related}


def start_server(args) -> tuple[subprocess.Popen, int]:
    env = dict(os.environ)
    if args.database_url:
        env["EPD_DATABASE_URL"] = args.database_url
    env["EPD_MAX_QUERY_RESULTS"] = "10000"
    data_dir = args.data_dir or "/tmp/qb/pgdata"
    cmd = [str(ROOT / ".venv/bin/epd-gateway"), "serve", "--data-dir", data_dir, "--port", "0"]
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    # Its own session, as a service runs (not the load generator's; see bench/machine.py).
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    deadline = time.time() + 120
    assert proc.stdout is not None
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.search(r"listening on http://[^:]+:(\d+)/", line)
        if m:
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # drain
            return proc, int(m.group(1))
    proc.kill()
    raise SystemExit("server did not start")


def run_scenario(port: int, make, clients: int, requests: int, warmup: int) -> dict:
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    headers = {"Content-Type": f'application/soap+xml; charset=UTF-8; action="{C.ACTION_ITI18}"'}

    def client(n: int, record: bool) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        bodies = [make() for _ in range(n)]
        mine: list[float] = []
        for body in bodies:
            t0 = time.perf_counter()
            conn.request("POST", "/xds/registry", body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            mine.append(time.perf_counter() - t0)
            if resp.status != 200 or b"ResponseStatusType:Success" not in data:
                with lock:
                    failures[0] += 1
        conn.close()
        if record:
            with lock:
                latencies.extend(mine)

    for record, n in ((False, warmup), (True, requests)):
        threads = [threading.Thread(target=client, args=(n, record)) for _ in range(clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    return {"requests": len(latencies), "failures": failures[0], "p50_ms": round(q[49] * 1000, 1),
            "p99_ms": round(q[98] * 1000, 1), "qps": round(len(latencies) / elapsed, 0)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", help="SQLite: the data directory holding epd-gateway.sqlite")
    ap.add_argument("--database-url", help="PostgreSQL: SQLAlchemy URL (EPD_DATABASE_URL of the server)")
    ap.add_argument("--patients", type=int, required=True)
    ap.add_argument("--per-patient", type=int, default=10)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=250, help="per client and scenario")
    ap.add_argument("--warmup", type=int, default=25)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--only", help="comma-separated scenario names")
    args = ap.parse_args()
    proc, port = start_server(args)
    try:
        rng = random.Random(7)
        results = {}
        for name, make in scenarios(args.patients, args.per_patient, rng).items():
            if args.only and name not in args.only.split(","):
                continue
            results[name] = run_scenario(port, make, args.clients, args.requests, args.warmup)
            print(name, json.dumps(results[name]), flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
