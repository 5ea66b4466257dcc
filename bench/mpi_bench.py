"""MPI benchmark: bulk-load N patients, then ITI-47 (family + birth date) and ITI-45 (local id)
with C concurrent clients over the real SOAP endpoint, and ITI-44 feeds per second.

    .venv/bin/python bench/mpi_bench.py --db sqlite --patients 1000000 --clients 8
    .venv/bin/python bench/mpi_bench.py --db postgresql --patients 1000000 --clients 8 --workers 4

Outside CI. Prints one line per measurement (p50/p99 in ms, throughput).
"""
from __future__ import annotations

import argparse
import datetime as dt
import http.client
import random
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "mpi"))

import sqlalchemy as sa  # noqa: E402

from gateway.store.db import make_engine, upgrade  # noqa: E402
from gateway.store.mpi import MpiStore  # noqa: E402
from profiles.ch.identifiers import CX, EPR_SPID_OID  # noqa: E402
from profiles.hl7v3.mpi import Address, Demographics, PatientFeed, PersonName  # noqa: E402

from hl7v3_samples import spid  # noqa: E402

MPI_OID = "2.16.756.5.30.1.999.1.1"
SRC = "1.3.6.1.4.1.21367.2017.2.5.89"
FAMILIES = [f"{a}{b}" for a in ("Müller", "Meier", "Schmid", "Keller", "Weber", "Huber", "Schneider", "Favre",
                                 "Rossi", "Bernasconi", "Brunner", "Baumann", "Gerber", "Frei", "Moser", "Zürcher")
            for b in ("", "-Kunz", "son", "i", "mann", "er", "ini", "-Roth", "ly", "ig", "ach", "hof", "li", "o",
                      "-Blanc", "egger", "berger", "-Dupont", "ez", "ov")]   # 320 family names
GIVEN = ["Anna", "Lea", "Maja", "Hans", "Peter", "Luca", "Noah", "Mia", "Elena", "Jean", "Chloé", "Marco"]


def feed_for(i: int, rnd: random.Random) -> PatientFeed:
    birth = dt.date(1930, 1, 1) + dt.timedelta(days=rnd.randrange(90 * 365))
    return PatientFeed(epr_spid=spid(i), local_ids=(CX(f"L{i}", SRC),), mpi_pid=f"P{i}", demographics=Demographics(
        names=(PersonName(FAMILIES[i % len(FAMILIES)], (GIVEN[i % len(GIVEN)],)),), birth_date=birth,
        gender="MF"[i % 2], addresses=(Address(("Bahnhofstrasse 1",), "Zürich", f"{8000 + i % 100}", country="CH"),)))


def load(url: str, n: int, batch: int = 5000) -> float:
    engine = make_engine(url)
    store = MpiStore(engine, MPI_OID)
    with engine.connect() as c:
        have = c.execute(sa.text("select count(*) from mpi_patient")).scalar()
    t0 = time.perf_counter()
    rnd = random.Random(1)
    for start in range(have, n, batch):
        store.bulk_load([feed_for(i, rnd) for i in range(start, min(n, start + batch))])
    if url.startswith("postgresql"):
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(sa.text("ANALYZE"))
    engine.dispose()
    return time.perf_counter() - t0


def envelope(action: str, body: str) -> bytes:
    return f"""<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing">
<s:Header><a:Action s:mustUnderstand="true">{action}</a:Action><a:MessageID>urn:uuid:{uuid.uuid4()}</a:MessageID></s:Header>
<s:Body>{body}</s:Body></s:Envelope>""".encode()


HEAD = """<id root="1.2.3" extension="{mid}"/><creationTime value="20240101000000"/>
<interactionId root="2.16.840.1.113883.1.6" extension="{it}"/><processingCode code="P"/>
<processingModeCode code="T"/><acceptAckCode code="AL"/>
<receiver typeCode="RCV"><device classCode="DEV" determinerCode="INSTANCE"><id root="9.9.1"/></device></receiver>
<sender typeCode="SND"><device classCode="DEV" determinerCode="INSTANCE"><id root="9.9.2"/></device></sender>"""


def iti47(family: str, birth: str) -> bytes:
    it = "PRPA_IN201305UV02"
    return envelope("urn:hl7-org:v3:" + it, f"""<{it} xmlns="urn:hl7-org:v3" ITSVersion="XML_1.0">{HEAD.format(mid=uuid.uuid4(), it=it)}
<controlActProcess classCode="CACT" moodCode="EVN"><code code="PRPA_TE201305UV02" codeSystem="2.16.840.1.113883.1.6"/>
<queryByParameter><queryId root="1.2.3" extension="{uuid.uuid4()}"/><statusCode code="new"/>
<responseModalityCode code="R"/><responsePriorityCode code="I"/><parameterList>
<livingSubjectBirthTime><value value="{birth}"/></livingSubjectBirthTime>
<livingSubjectName><value><family>{family}</family></value></livingSubjectName>
</parameterList></queryByParameter></controlActProcess></{it}>""")


def iti45(local: str) -> bytes:
    it = "PRPA_IN201309UV02"
    return envelope("urn:hl7-org:v3:" + it, f"""<{it} xmlns="urn:hl7-org:v3" ITSVersion="XML_1.0">{HEAD.format(mid=uuid.uuid4(), it=it)}
<controlActProcess classCode="CACT" moodCode="EVN"><code code="PRPA_TE201309UV02" codeSystem="2.16.840.1.113883.1.6"/>
<queryByParameter><queryId root="1.2.3" extension="{uuid.uuid4()}"/><statusCode code="new"/><responsePriorityCode code="I"/>
<parameterList><dataSource><value root="{MPI_OID}"/></dataSource><dataSource><value root="{EPR_SPID_OID}"/></dataSource>
<patientIdentifier><value root="{SRC}" extension="{local}"/></patientIdentifier></parameterList>
</queryByParameter></controlActProcess></{it}>""")


def iti44(i: int) -> bytes:
    it = "PRPA_IN201301UV02"
    return envelope("urn:hl7-org:v3:" + it, f"""<{it} xmlns="urn:hl7-org:v3" ITSVersion="XML_1.0">{HEAD.format(mid=uuid.uuid4(), it=it)}
<controlActProcess classCode="CACT" moodCode="EVN"><code code="PRPA_TE201301UV02" codeSystem="2.16.840.1.113883.1.6"/>
<subject typeCode="SUBJ"><registrationEvent classCode="REG" moodCode="EVN"><statusCode code="active"/>
<subject1 typeCode="SBJ"><patient classCode="PAT"><id root="{SRC}" extension="F{i}"/>
<id root="{EPR_SPID_OID}" extension="{spid(i)}"/><statusCode code="active"/>
<patientPerson classCode="PSN" determinerCode="INSTANCE"><name><given>Neu</given><family>Feed{i % 97}</family></name>
<administrativeGenderCode code="F"/><birthTime value="19800101"/></patientPerson></patient></subject1>
<custodian typeCode="CST"><assignedEntity classCode="ASSIGNED"><id root="9.9.3"/></assignedEntity></custodian>
</registrationEvent></subject></controlActProcess></{it}>""")


def run_clients(host: str, port: int, path: str, make, total: int, clients: int, check: bytes) -> list[float]:
    lat: list[float] = []
    lock = threading.Lock()
    counter = iter(range(total))

    def worker():
        conn = http.client.HTTPConnection(host, port, timeout=60)
        mine = []
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            body = make(i)
            t0 = time.perf_counter()
            conn.request("POST", path, body=body, headers={"Content-Type": "application/soap+xml"})
            data = conn.getresponse().read()
            mine.append(time.perf_counter() - t0)
            if check not in data:
                print(f"unexpected answer: {data[:3000]!r}", file=sys.stderr)
                continue
        conn.close()
        with lock:
            lat.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return lat


def report(name: str, lat: list[float], wall: float) -> None:
    lat = sorted(lat)
    p50 = statistics.median(lat) * 1000
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
    print(f"{name:<34} n={len(lat):>6}  p50={p50:7.2f} ms  p99={p99:7.2f} ms  {len(lat) / wall:8.1f} req/s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--url", help="database URL (default: a temp SQLite file / a fresh PG database)")
    ap.add_argument("--patients", type=int, default=1_000_000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--feeds", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=1, help="gateway worker processes")
    args = ap.parse_args()

    url = args.url
    if not url:
        if args.db == "sqlite":
            url = f"sqlite:///{tempfile.mkdtemp(prefix='mpi-bench-')}/mpi.sqlite"
        else:
            name = f"mpi_bench_{args.patients}"
            admin = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                if not c.execute(sa.text("select 1 from pg_database where datname=:n"), {"n": name}).first():
                    c.execute(sa.text(f'CREATE DATABASE "{name}"'))
            url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    upgrade(url)
    took = load(url, args.patients)
    print(f"bulk load to {args.patients} patients: {took:.1f} s ({url.split(':')[0]})", flush=True)

    proc = subprocess.Popen([sys.executable, "-m", "tests.mpi.mpi_server_app", url, MPI_OID, str(args.workers)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        line = proc.stdout.readline() if ready else b""
        _, host, port = line.decode().split()
        port = int(port)
        rnd = random.Random(2)
        births = {}
        pick = [rnd.randrange(args.patients) for _ in range(args.requests)]
        rnd2 = random.Random(1)   # same sequence as the load: recompute birth dates of picked patients
        wanted = set(pick)
        for i in range(args.patients):
            f = feed_for(i, rnd2)
            if i in wanted:
                births[i] = f.demographics.birth_date.strftime("%Y%m%d")
        # warm-up
        run_clients(host, port, "/pdq", lambda k: iti47(FAMILIES[pick[k] % len(FAMILIES)], births[pick[k]]), 200,
                    args.clients, b'code="AA"')
        t0 = time.perf_counter()
        lat = run_clients(host, port, "/pdq", lambda k: iti47(FAMILIES[pick[k] % len(FAMILIES)], births[pick[k]]),
                          args.requests, args.clients, b'code="OK"')
        report(f"ITI-47 family+birth ({args.clients} clients)", lat, time.perf_counter() - t0)
        t0 = time.perf_counter()
        lat = run_clients(host, port, "/pix", lambda k: iti45(f"L{pick[k]}"), args.requests, args.clients, b'code="OK"')
        report(f"ITI-45 local id ({args.clients} clients)", lat, time.perf_counter() - t0)
        base = args.patients + 10_000_000 + random.randrange(10_000_000)
        t0 = time.perf_counter()
        lat = run_clients(host, port, "/pix", lambda k: iti44(base + k), args.feeds, args.clients, b'code="AA"')
        report(f"ITI-44 add ({args.clients} clients)", lat, time.perf_counter() - t0)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
