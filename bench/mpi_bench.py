"""MPI benchmark: bulk-load N patients, then ITI-47 (family + birth date) and ITI-45 (local id)
with C concurrent connections against the real server (``epd-gateway serve``), and ITI-44 Add
feeds per second.

    .venv/bin/python bench/mpi_bench.py --db postgresql --patients 1000000 --clients 8 --workers 2
    .venv/bin/python bench/mpi_bench.py --db sqlite --patients 1000000 --clients 8 --workers 2

The load generator is ``wrk`` (C, epoll) driven by ``bench/mpi_wrk.lua``, which cycles over request
bodies built beforehand (one per line in a temp file): the client costs little CPU, and its share
is reported. Latency percentiles come from wrk's own histogram (``latency:percentile``); every
answer is checked (HTTP 200 and the expected HL7 code) and the failures are counted.

Data: 35 % of family names from 230 common Swiss ones with a Zipf-like weight (Müller 2.5 %),
65 % from a tail of 1,800 rarer ones,
given names by gender (de/fr/it), birth dates uniform over 90 years, addresses in 40 Swiss
towns, 1 to 3 local ids in 5 hospital/practice domains. Patient ``i`` is generated from
``random.Random(i)`` so the query bodies can be rebuilt without re-reading the database.

Outside CI. Prints one line per measurement (p50/p99 in ms, throughput, CPU split).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import re
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from machine import announce  # noqa: E402

import sqlalchemy as sa  # noqa: E402

from gateway.store.db import make_engine, upgrade  # noqa: E402
from gateway.store.mpi import MpiStore  # noqa: E402
from profiles.ch.identifiers import CX, EPR_SPID_OID, gs1_check_digit  # noqa: E402
from profiles.hl7v3.mpi import Address, Demographics, PatientFeed, PersonName, Telecom  # noqa: E402

MPI_OID = "2.16.756.5.30.1.999.1.1"
#: Local-id domains: hospitals and a practice software (the first is every patient's primary one).
DOMAINS = ("1.3.6.1.4.1.21367.2017.2.5.89", "2.16.756.5.30.1.178.1.1", "2.16.756.5.30.1.145.2.1",
           "2.16.756.5.30.1.191.1.3", "2.16.756.5.30.1.133.9.1")
SRC = DOMAINS[0]

FAMILIES = """Müller Meier Schmid Keller Weber Huber Schneider Meyer Steiner Fischer Gerber Brunner Baumann
Frei Zimmermann Moser Widmer Wyss Graf Roth Suter Baumgartner Bachmann Studer Bucher Berger Kälin Lehmann
Marti Hofmann Kaufmann Christen Koch Bühler Arnold Egli Schär Sutter Lüthi Bieri Hess Rüegg Zürcher Ammann
Fuchs Wenger Hug Brun Egger Frey Vogel Gasser Kunz Hofer Rohner Stalder Schwarz Küng Kuhn Peter Favre Rochat
Morel Bonvin Perrin Pittet Rey Girard Fournier Jaquet Dubois Mercier Blanc Martin Bernard Cattaneo Bernasconi
Rossi Ferrari Bianchi Fontana Galli Lombardi Colombo Pellegrini Romano Ricci Bernhard Aebischer Dietrich
Imhof Walker Vogt Stucki Lanz Häfliger Bösch Schmidlin Tanner Zbinden Bosshard Staub Ott Lutz Wüthrich
Hunziker Stocker Siegrist Rüfenacht Zaugg Probst Portmann Odermatt Amstutz Gisler Betschart Inderbitzin
Furrer Planzer Zgraggen Arnold Tschopp Nussbaumer Iseli Kohler Habegger Rufer Burri Jenni Gfeller Tschanz
Joss Schüpbach Mathys Reber Wittwer Zingg Flückiger Grossenbacher Minder Rentsch Zwahlen Kocher Stettler
Santos Silva Pereira Ferreira Oliveira Costa Rodrigues Gashi Krasniqi Berisha Hoxha Morina Yilmaz Kaya
Nguyen Novak Horvat Kovačević Jovanović Petrović Dupont Dumont Chevalier Mottier Bovet Pasche Cuendet
Delacrétaz Gex Reymond Golay Monnier Python Sallin Chappuis Theurillat Frésard Crevoisier Donzé Zuber
Casanova Caviezel Cadruvi Cathomen Derungs Cavelti Giger Tuor Bundi Capaul""".split()
GIVEN_F = """Anna Maria Lea Laura Sara Mia Emma Lena Julia Elena Chloé Léa Manon Camille Giulia Sofia Chiara
Martina Ursula Ruth Verena Elisabeth Margrit Rosmarie Heidi Monika Sandra Nicole Daniela Andrea Claudia
Sabine Marianne Françoise Nathalie Isabelle Valérie Aurélie Noémie Alessia""".split()
GIVEN_M = """Hans Peter Thomas Daniel Martin Christian Andreas Markus Stefan Michael Urs Beat Bruno Walter
Werner Kurt Rolf Luca Noah Leon Liam Elias Jan Nico David Jean Pierre Michel Philippe Olivier Nicolas
Luc Marco Giuseppe Matteo Alessandro Lorenzo Reto Fabian Samuel""".split()
PLACES = [("8001", "Zürich"), ("8004", "Zürich"), ("8050", "Zürich"), ("3011", "Bern"), ("3027", "Bern"),
          ("4051", "Basel"), ("4058", "Basel"), ("1201", "Genève"), ("1205", "Genève"), ("1003", "Lausanne"),
          ("1004", "Lausanne"), ("6003", "Luzern"), ("9000", "St. Gallen"), ("6900", "Lugano"),
          ("8400", "Winterthur"), ("2502", "Biel/Bienne"), ("3600", "Thun"), ("5000", "Aarau"),
          ("6300", "Zug"), ("7000", "Chur"), ("1700", "Fribourg"), ("2000", "Neuchâtel"), ("1950", "Sion"),
          ("6500", "Bellinzona"), ("8200", "Schaffhausen"), ("4500", "Solothurn"), ("8500", "Frauenfeld"),
          ("9100", "Herisau"), ("6460", "Altdorf"), ("6430", "Schwyz"), ("6060", "Sarnen"),
          ("6370", "Stans"), ("8750", "Glarus"), ("2800", "Delémont"), ("1400", "Yverdon-les-Bains"),
          ("1800", "Vevey"), ("3900", "Brig"), ("7500", "St. Moritz"), ("8600", "Dübendorf"), ("5400", "Baden")]
STREETS = ["Bahnhofstrasse", "Hauptstrasse", "Dorfstrasse", "Kirchweg", "Schulstrasse", "Seestrasse",
           "Rue du Lac", "Rue de la Gare", "Via Cantonale", "Industriestrasse", "Gartenstrasse",
           "Bergstrasse", "Rosenweg", "Avenue de la Gare", "Chemin des Vignes"]
#: The long tail: thousands of rarer names (root + suffix), drawn uniformly for 65 % of patients.
_ROOTS = """Aeb Ach Alb Amm Bach Balm Bär Berg Bir Blatt Bolt Brand Brun Buch Bur Burg Dür Eg Eich Eng Feh Feld
Flück Forr Gass Geiss Gl Grab Gut Hab Häs Hal Hass Heim Hir Hof Holz Hub Jäg Kast Kirch Kn Kreb Lang Laub
Leu Lind Loos Matt Moos Neu Nuss Ober Rein Rieder Ris Rot Rüeg Sam Schalt Scheid Schür Seil Sieg Sonn Spör
Stauf Stein Stoll Strub Tob Uhl Vett Wal Wald Weg Wid Wint Wyl Zell Zim Zum""".split()
_SUFFIXES = "er li mann egger ig iger halter acher bühler ried matter wyler stein berger hofer inger ener ach lin isberg".split()
TAIL = [r + s for r in _ROOTS for s in _SUFFIXES]
_FAMILY_W = [1 / (r + 1) ** 0.8 for r in range(len(FAMILIES))]
_FAMILY_CUM = [sum(_FAMILY_W[: k + 1]) for k in range(len(_FAMILY_W))]
EPOCH = dt.date(1930, 1, 1)
SPAN_DAYS = 90 * 365 + 22


def spid(n: int) -> str:
    body = f"76133761{n:09d}"
    return body + str(gs1_check_digit(body))


def person(i: int) -> tuple[str, tuple[str, ...], str, dt.date, random.Random]:
    """Family name, given names, gender, birth date of patient ``i`` (deterministic)."""
    rnd = random.Random(i)
    family = rnd.choices(FAMILIES, cum_weights=_FAMILY_CUM)[0] if rnd.random() < 0.35 else rnd.choice(TAIL)
    if rnd.random() < 0.04:   # double names ("Meier-Rossi")
        family += "-" + rnd.choices(FAMILIES, cum_weights=_FAMILY_CUM)[0]
    gender = "F" if rnd.random() < 0.51 else "M"
    pool = GIVEN_F if gender == "F" else GIVEN_M
    given = (rnd.choice(pool),) + ((rnd.choice(pool),) if rnd.random() < 0.3 else ())
    birth = EPOCH + dt.timedelta(days=rnd.randrange(SPAN_DAYS))
    return family, given, gender, birth, rnd


def local_ids(i: int, rnd: random.Random) -> tuple[CX, ...]:
    ids = [CX(f"{i:08d}", SRC)]
    for k, dom in enumerate(DOMAINS[1:], 1):
        if rnd.random() < 0.25:
            ids.append(CX(f"{'HKPZ'[k - 1]}{(i * 7919 + k) % 10**10:010d}", dom))
    return tuple(ids)


def feed_for(i: int) -> PatientFeed:
    family, given, gender, birth, rnd = person(i)
    postal, city = rnd.choice(PLACES)
    telecoms = (Telecom(f"tel:+417{rnd.randrange(5, 10)}{rnd.randrange(10**7):07d}", "MC"),) \
        if rnd.random() < 0.5 else ()
    return PatientFeed(
        epr_spid=spid(i), local_ids=local_ids(i, rnd), mpi_pid=f"{100000000 + i}",
        demographics=Demographics(
            names=(PersonName(family, given),), birth_date=birth, gender=gender, telecoms=telecoms,
            addresses=(Address((f"{rnd.choice(STREETS)} {rnd.randrange(1, 120)}",), city, postal,
                               country="CH", use="H"),)))


def load(url: str, n: int, batch: int = 20000) -> tuple[int, float]:
    engine = make_engine(url)
    store = MpiStore(engine, MPI_OID)
    with engine.connect() as c:
        have = c.execute(sa.text("select count(*) from mpi_patient")).scalar()
    t0 = time.perf_counter()
    for start in range(have, n, batch):
        store.bulk_load([feed_for(i) for i in range(start, min(n, start + batch))])
        if (start // batch) % 10 == 0:
            print(f"  loaded {min(n, start + batch)} ({time.perf_counter() - t0:.0f} s)", flush=True)
    if have < n:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(sa.text("ANALYZE"))
    engine.dispose()
    return max(0, n - have), time.perf_counter() - t0


# -- request bodies (one per line) -------------------------------------------------------------

def envelope(action: str, body: str) -> str:
    return (f'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing">'
            f'<s:Header><a:Action s:mustUnderstand="true">{action}</a:Action><a:MessageID>urn:uuid:{uuid.uuid4()}</a:MessageID>'
            f'</s:Header><s:Body>{body}</s:Body></s:Envelope>')


HEAD = ('<id root="1.2.3" extension="{mid}"/><creationTime value="20240101000000"/>'
        '<interactionId root="2.16.840.1.113883.1.6" extension="{it}"/><processingCode code="P"/>'
        '<processingModeCode code="T"/><acceptAckCode code="AL"/>'
        '<receiver typeCode="RCV"><device classCode="DEV" determinerCode="INSTANCE"><id root="9.9.1"/></device></receiver>'
        '<sender typeCode="SND"><device classCode="DEV" determinerCode="INSTANCE"><id root="9.9.2"/></device></sender>')


def iti47(family: str, birth: str) -> str:
    it = "PRPA_IN201305UV02"
    return envelope("urn:hl7-org:v3:" + it, f'<{it} xmlns="urn:hl7-org:v3" ITSVersion="XML_1.0">{HEAD.format(mid=uuid.uuid4(), it=it)}'
                    f'<controlActProcess classCode="CACT" moodCode="EVN"><code code="PRPA_TE201305UV02" codeSystem="2.16.840.1.113883.1.6"/>'
                    f'<queryByParameter><queryId root="1.2.3" extension="{uuid.uuid4()}"/><statusCode code="new"/>'
                    f'<responseModalityCode code="R"/><responsePriorityCode code="I"/><parameterList>'
                    f'<livingSubjectBirthTime><value value="{birth}"/></livingSubjectBirthTime>'
                    f'<livingSubjectName><value><family>{family}</family></value></livingSubjectName>'
                    f'</parameterList></queryByParameter></controlActProcess></{it}>')


def iti45(cx: CX) -> str:
    it = "PRPA_IN201309UV02"
    return envelope("urn:hl7-org:v3:" + it, f'<{it} xmlns="urn:hl7-org:v3" ITSVersion="XML_1.0">{HEAD.format(mid=uuid.uuid4(), it=it)}'
                    f'<controlActProcess classCode="CACT" moodCode="EVN"><code code="PRPA_TE201309UV02" codeSystem="2.16.840.1.113883.1.6"/>'
                    f'<queryByParameter><queryId root="1.2.3" extension="{uuid.uuid4()}"/><statusCode code="new"/><responsePriorityCode code="I"/>'
                    f'<parameterList><dataSource><value root="{MPI_OID}"/></dataSource><dataSource><value root="{EPR_SPID_OID}"/></dataSource>'
                    f'<patientIdentifier><value root="{cx.oid}" extension="{cx.id}"/></patientIdentifier></parameterList>'
                    f'</queryByParameter></controlActProcess></{it}>')


def iti44(i: int) -> str:
    it = "PRPA_IN201301UV02"
    family, given, gender, birth, rnd = person(i)
    ids = "".join(f'<id root="{cx.oid}" extension="{cx.id}"/>' for cx in local_ids(i, rnd))
    postal, city = rnd.choice(PLACES)
    return envelope("urn:hl7-org:v3:" + it, f'<{it} xmlns="urn:hl7-org:v3" ITSVersion="XML_1.0">{HEAD.format(mid=uuid.uuid4(), it=it)}'
                    f'<controlActProcess classCode="CACT" moodCode="EVN"><code code="PRPA_TE201301UV02" codeSystem="2.16.840.1.113883.1.6"/>'
                    f'<subject typeCode="SUBJ"><registrationEvent classCode="REG" moodCode="EVN"><statusCode code="active"/>'
                    f'<subject1 typeCode="SBJ"><patient classCode="PAT">{ids}'
                    f'<id root="{EPR_SPID_OID}" extension="{spid(i)}"/><statusCode code="active"/>'
                    f'<patientPerson classCode="PSN" determinerCode="INSTANCE"><name>'
                    + "".join(f"<given>{g}</given>" for g in given) + f'<family>{family}</family></name>'
                    f'<administrativeGenderCode code="{gender}"/><birthTime value="{birth:%Y%m%d}"/>'
                    f'<addr use="H"><streetAddressLine>{rnd.choice(STREETS)} 5</streetAddressLine><city>{city}</city>'
                    f'<postalCode>{postal}</postalCode><country>CH</country></addr></patientPerson></patient></subject1>'
                    f'<custodian typeCode="CST"><assignedEntity classCode="ASSIGNED"><id root="9.9.3"/></assignedEntity></custodian>'
                    f'</registrationEvent></subject></controlActProcess></{it}>')


def write_bodies(path: Path, bodies) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for b in bodies:
            assert "\n" not in b
            f.write(b + "\n")
    return path


# -- measurement -------------------------------------------------------------------------------

def _ticks(pids) -> dict[int, int]:
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out[pid] = int(fields[11]) + int(fields[12])   # utime + stime
        except (FileNotFoundError, ProcessLookupError, IndexError):
            pass
    return out


def _delta(before: dict[int, int], after: dict[int, int]) -> int:
    return sum(t - before.get(pid, 0) for pid, t in after.items())


def _machine_busy() -> int:
    cpu = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    vals = list(map(int, cpu))
    return sum(vals) - vals[3] - vals[4]   # all but idle and iowait


def _procs() -> dict[int, tuple[int, str]]:
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                raw = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            comm = raw[raw.index("(") + 1: raw.rindex(")")]
            out[int(d)] = (int(raw.rsplit(")", 1)[1].split()[1]), comm)
    return out


def descendants(root: int) -> list[int]:
    procs = _procs()
    found, todo = [root], [root]
    while todo:
        p = todo.pop()
        kids = [c for c, (pp, _) in procs.items() if pp == p]
        found += kids
        todo += kids
    return found


def postgres_pids(database: str | None = None) -> list[int]:
    """PostgreSQL processes; with ``database``, only the backends serving it (not other users')."""
    pids = [p for p, (_, comm) in _procs().items() if comm.startswith("postgres")]
    if database is None:
        return pids
    out = []
    for p in pids:
        try:
            if f" {database} ".encode() in Path(f"/proc/{p}/cmdline").read_bytes():
                out.append(p)
        except OSError:
            pass
    return out


HZ = os.sysconf("SC_CLK_TCK")
DB_NAME = "-"   # set in main(): the PostgreSQL database whose backends are counted
NCPU = os.cpu_count() or 1


def run_wrk(url: str, bodies: Path, check: str, clients: int, duration: int, server_pid: int,
            label: str, threads: int = 2, quiet: bool = False) -> dict:
    spids = descendants(server_pid)
    s0, p0, m0, t0 = _ticks(spids), _ticks(postgres_pids(DB_NAME)), _machine_busy(), time.perf_counter()
    threads = min(threads, clients)
    cmd = ["/usr/bin/time", "-f", "WRKCPU %U %S %e", "wrk", "-t", str(threads), "-c", str(clients),
           "-d", f"{duration}s", "--timeout", "10s", "--latency", "-s", str(ROOT / "bench" / "mpi_wrk.lua"),
           url, "--", str(bodies), check, str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    s1, p1, m1 = _ticks(spids), _ticks(postgres_pids(DB_NAME)), _machine_busy()
    text = out.stdout + out.stderr
    if "unexpected answer" in out.stderr and not quiet:
        print(out.stderr[out.stderr.index("unexpected answer"):][:1500], file=sys.stderr)
    res = dict(re.findall(r"(\w+)=([\d.]+)", text[text.index("RESULT"):].splitlines()[0]))
    u, s, e = map(float, re.search(r"WRKCPU ([\d.]+) ([\d.]+) ([\d.]+)", text).groups())
    res = {k: float(v) for k, v in res.items()}
    res.update(client_cpu=(u + s) / wall / NCPU, server_cpu=_delta(s0, s1) / HZ / wall / NCPU,
               pg_cpu=_delta(p0, p1) / HZ / wall / NCPU, machine_cpu=(m1 - m0) / HZ / wall / NCPU)
    res["other_cpu"] = max(0.0, res["machine_cpu"] - res["client_cpu"] - res["server_cpu"] - res["pg_cpu"])
    if not quiet:
        print(f"{label:<30} n={int(res['requests']):>6} bad={int(res['bad'])} p50={res['p50'] / 1000:6.1f} ms  "
              f"p90={res['p90'] / 1000:6.1f} ms  p99={res['p99'] / 1000:6.1f} ms  max={res['max'] / 1000:6.1f} ms  "
              f"{res['rps']:6.1f} req/s  CPU: gateway {res['server_cpu']:.0%} postgres {res['pg_cpu']:.0%} "
              f"wrk {res['client_cpu']:.0%} other {res['other_cpu']:.0%} (of {NCPU} cores)", flush=True)
    return res


def start_server(url: str, workers: int, data_dir: str, test_app: bool):
    env = dict(os.environ, EPD_DATABASE_URL=url, EPD_MPI_OID=MPI_OID, EPD_DATA_DIR=data_dir, EPD_LOG_LEVEL="warning")
    if test_app:
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "bench"), env.get("PYTHONPATH", "")])
        cmd = [sys.executable, "-m", "mpi_server_app", url, MPI_OID, str(workers)]
    else:
        cmd = [str(Path(sys.executable).with_name("epd-gateway")), "serve", "--port", "0", "--workers", str(workers)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    lines: "queue.Queue[str]" = queue.Queue()

    def pump() -> None:   # keeps reading (and discarding) the server's output
        for raw in proc.stdout:
            lines.put(raw.decode(errors="replace"))
        lines.put("")
    threading.Thread(target=pump, daemon=True).start()
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            line = lines.get(timeout=5)
        except queue.Empty:
            continue
        if not line:
            raise SystemExit("server exited")
        m = re.search(r"LISTENING (\S+) (\d+)|listening on http://([^/ ]+):(\d+)/", line)
        if m:
            host, port = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
            time.sleep(1.0)   # let every worker start
            return proc, f"http://{host.strip('[]')}:{port}"
    raise SystemExit("server did not start")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--url", help="database URL (default: bench-data SQLite file / PG database mpi_bench_N)")
    ap.add_argument("--patients", type=int, default=1_000_000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--duration", type=int, default=30, help="seconds per query measurement")
    ap.add_argument("--feed-duration", type=int, default=20, help="seconds of ITI-44 feeds")
    ap.add_argument("--workers", type=int, default=2, help="gateway worker processes")
    ap.add_argument("--test-app", action="store_true", help="bench/mpi_server_app.py (PIX/PDQ only) instead of epd-gateway serve")
    ap.add_argument("--load-only", action="store_true")
    ap.add_argument("--no-feeds", action="store_true")
    args = ap.parse_args()
    announce()

    url = args.url
    if not url:
        if args.db == "sqlite":
            d = Path(tempfile.gettempdir()) / "mpi-bench"
            d.mkdir(exist_ok=True)
            url = f"sqlite:///{d}/mpi_{args.patients}.sqlite"
        else:
            name = f"mpi_bench_{args.patients}"
            admin = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                if not c.execute(sa.text("select 1 from pg_database where datname=:n"), {"n": name}).first():
                    c.execute(sa.text(f'CREATE DATABASE "{name}"'))
            admin.dispose()
            url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    global DB_NAME
    DB_NAME = url.rsplit("/", 1)[-1] if url.startswith("postgresql") else "-"
    upgrade(url)
    added, took = load(url, args.patients)
    if added:
        print(f"bulk load of {added} patients: {took:.1f} s, {added / took:,.0f} patients/s ({url.split(':')[0]})",
              flush=True)
    if args.load_only:
        return

    work = Path(tempfile.mkdtemp(prefix="mpi-bench-"))
    rnd = random.Random(2)
    pick = [rnd.randrange(args.patients) for _ in range(20000)]
    q47 = write_bodies(work / "iti47.txt", (iti47(person(i)[0], f"{person(i)[3]:%Y%m%d}") for i in pick))
    q45 = []
    for i in pick:
        ids = feed_for(i).local_ids
        q45.append(iti45(ids[rnd.randrange(len(ids))]))
    q45 = write_bodies(work / "iti45.txt", q45)
    base = 50_000_000 + random.randrange(10_000_000) * 10   # fresh patients, never in the load
    f44 = write_bodies(work / "iti44.txt", (iti44(base + k) for k in range(60000)))

    proc, server = start_server(url, args.workers, str(work / "data"), args.test_app)
    try:
        print(f"server {'bench/mpi_server_app.py' if args.test_app else 'epd-gateway serve'} "
              f"--workers {args.workers} at {server}; {args.clients} connections, wrk -t2", flush=True)
        run_wrk(server + "/pdq", q47, 'code="OK"', args.clients, 5, proc.pid, "warm-up", quiet=True)
        run_wrk(server + "/pix", q45, 'code="OK"', args.clients, 5, proc.pid, "warm-up", quiet=True)
        run_wrk(server + "/pdq", q47, 'code="OK"', args.clients, args.duration, proc.pid,
                f"ITI-47 family+birth ({args.clients} conn)")
        run_wrk(server + "/pix", q45, 'code="OK"', args.clients, args.duration, proc.pid,
                f"ITI-45 local id ({args.clients} conn)")
        run_wrk(server + "/pdq", q47, 'code="OK"', 1, args.duration // 2, proc.pid, "ITI-47 family+birth (1 conn)")
        run_wrk(server + "/pix", q45, 'code="OK"', 1, args.duration // 2, proc.pid, "ITI-45 local id (1 conn)")
        if not args.no_feeds:
            run_wrk(server + "/pix", f44, 'typeCode code="AA"', args.clients, args.feed_duration, proc.pid,
                    f"ITI-44 add ({args.clients} conn)")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
