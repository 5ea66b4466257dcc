"""Bulk loader of a large registry for the ITI-18 benchmark (straight into the tables, no ITI-42).

    .venv/bin/python bench/registry_load.py --url sqlite:///D/epd-gateway.sqlite --docs 1000000 --patients 100000
    .venv/bin/python bench/registry_load.py --url postgresql+psycopg://postgres@127.0.0.1/epd_bench --docs 1000000

Per patient (``docs/patients`` entries each, 10 by default), as the ITI-42 writer would store it:
* DocumentEntries with annex 3 codes (classCode, typeCode, formatCode, confidentialityCode,
  healthcareFacilityTypeCode, practiceSettingCode, eventCodeList from the packaged annex 3 value sets),
  an author, creation and service times spread over 2015-2025;
* 3 SubmissionSets with HasMember associations (SubmissionSetStatus Original);
* one RPLC chain (the last entry replaces the first: first Deprecated, lid/version continued),
  an XFRM for every 4th patient, and a Folder with 2 members for every 5th patient;
* the patient in the MPI (``mpi_patient``, active) so that ITI-18 finds him known.

The ``xml`` column holds a compact but complete ebRIM ExtrinsicObject / RegistryPackage / Association.
PostgreSQL is loaded with COPY, SQLite with executemany in one transaction (synchronous off during the
load). The schema is created by the Alembic migrations first. Ends with ANALYZE.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import random
import sys
import time
from pathlib import Path
from typing import Iterable, Iterator
from xml.sax.saxutils import quoteattr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from profiles.xds import constants as C  # noqa: E402

VALUESETS = Path(__file__).resolve().parents[1] / "profiles" / "ch" / "data" / "annex3-valuesets.json"
MPI_OID = "2.16.756.5.30.1.999.1.1"
REPO = "2.16.756.5.30.1.999.1.2"
RIM = C.NS_RIM


def codes(vs: dict, name: str) -> list[tuple[str, str, str]]:
    return [(c["code"], c["system"], c["display"].get("en") or c.get("fhirDisplay", ""))
            for c in vs[name]["codes"]]


def uuid_of(kind: int, i: int) -> str:
    return "urn:uuid:%08x-0000-4000-8000-%012x" % (0xd0c00000 + kind, i)


def pid_of(p: int) -> str:
    return f"BP{p:07d}"


def cx(p: int) -> str:
    return f"{pid_of(p)}^^^&{MPI_OID}&ISO"


def _slot(name: str, value: str) -> str:
    return f'<Slot name="{name}"><ValueList><Value>{_esc(value)}</Value></ValueList></Slot>'


def _esc(v: str) -> str:
    return v.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cl(scheme: str, obj: str, cid: str, code: tuple[str, str, str]) -> str:
    return (f'<Classification classificationScheme="{scheme}" classifiedObject="{obj}" id="{cid}" '
            f'nodeRepresentation={quoteattr(code[0])}>{_slot("codingScheme", code[1])}'
            f'<Name><LocalizedString value={quoteattr(code[2])}/></Name></Classification>')


def doc_xml(d: dict) -> str:
    u = d["entry_uuid"]
    n = d["n"]
    parts = [f'<ExtrinsicObject xmlns="{RIM}" id="{u}" lid="{d["lid"]}" mimeType="application/pdf" '
             f'objectType="{C.DOC_ENTRY_STABLE}" status="{C.STATUS_APPROVED}">',
             _slot("creationTime", d["ct"]), _slot("languageCode", "de-CH"),
             _slot("sourcePatientId", f"L{n}^^^&2.999.9.9&ISO"), _slot("hash", "%040x" % n),
             _slot("size", str(1000 + n % 5000)), _slot("repositoryUniqueId", REPO),
             _slot("serviceStartTime", d["st"]), _slot("serviceStopTime", d["sp"]),
             _slot(C.SLOT_ORIGINAL_PROVIDER_ROLE, "HCP^^^&2.16.756.5.30.1.127.3.10.6&ISO"),
             f'<Name><LocalizedString value="Document {n}"/></Name>',
             f'<VersionInfo versionName="{d["version"]}"/>',
             f'<Classification classificationScheme="{C.DE_AUTHOR}" classifiedObject="{u}" id="{uuid_of(16, n)}" '
             f'nodeRepresentation="">{_slot("authorPerson", d["author"])}'
             f'{_slot("authorRole", "HCP^^^&2.16.756.5.30.1.127.3.10.6&ISO")}</Classification>',
             _cl(C.DE_CLASS_CODE, u, uuid_of(17, n), d["class"]),
             _cl(C.DE_CONFIDENTIALITY_CODE, u, uuid_of(18, n), d["conf"])]
    if d["event"]:
        parts.append(_cl(C.DE_EVENT_CODE, u, uuid_of(19, n), d["event"]))
    parts += [_cl(C.DE_FORMAT_CODE, u, uuid_of(20, n), d["format"]),
              _cl(C.DE_HEALTHCARE_FACILITY_TYPE_CODE, u, uuid_of(21, n), d["facility"]),
              _cl(C.DE_PRACTICE_SETTING_CODE, u, uuid_of(22, n), d["practice"]),
              _cl(C.DE_TYPE_CODE, u, uuid_of(23, n), d["type"]),
              f'<ExternalIdentifier identificationScheme="{C.DE_PATIENT_ID}" id="{uuid_of(24, n)}" registryObject="{u}" '
              f'value="{_esc(d["patient_id"])}"><Name><LocalizedString value="XDSDocumentEntry.patientId"/></Name>'
              f'</ExternalIdentifier>',
              f'<ExternalIdentifier identificationScheme="{C.DE_UNIQUE_ID}" id="{uuid_of(25, n)}" registryObject="{u}" '
              f'value="{d["unique_id"]}"><Name><LocalizedString value="XDSDocumentEntry.uniqueId"/></Name>'
              f'</ExternalIdentifier>', "</ExtrinsicObject>"]
    return "".join(parts)


def ss_xml(u: str, n: int, patient: str, when: str, unique_id: str) -> str:
    return (f'<RegistryPackage xmlns="{RIM}" id="{u}" lid="{u}" status="{C.STATUS_APPROVED}">'
            f'{_slot("submissionTime", when)}<Name><LocalizedString value="Submission {n}"/></Name>'
            f'<VersionInfo versionName="1"/>'
            f'<Classification classificationScheme="{C.SS_AUTHOR}" classifiedObject="{u}" id="{uuid_of(30, n)}" '
            f'nodeRepresentation="">{_slot("authorPerson", "^Bench^Source^^^")}</Classification>'
            f'<Classification classificationScheme="{C.SS_CONTENT_TYPE_CODE}" classifiedObject="{u}" '
            f'id="{uuid_of(31, n)}" nodeRepresentation="71388002">{_slot("codingScheme", "2.16.840.1.113883.6.96")}'
            f'<Name><LocalizedString value="Procedure"/></Name></Classification>'
            f'<Classification classifiedObject="{u}" classificationNode="{C.SUBMISSION_SET_NODE}" id="{uuid_of(32, n)}"/>'
            f'<ExternalIdentifier identificationScheme="{C.SS_UNIQUE_ID}" id="{uuid_of(33, n)}" registryObject="{u}" '
            f'value="{unique_id}"/><ExternalIdentifier identificationScheme="{C.SS_SOURCE_ID}" id="{uuid_of(34, n)}" '
            f'registryObject="{u}" value="2.999.1.1"/><ExternalIdentifier identificationScheme="{C.SS_PATIENT_ID}" '
            f'id="{uuid_of(35, n)}" registryObject="{u}" value="{_esc(patient)}"/></RegistryPackage>')


def folder_xml(u: str, n: int, patient: str, when: str, unique_id: str) -> str:
    return (f'<RegistryPackage xmlns="{RIM}" id="{u}" lid="{u}" status="{C.STATUS_APPROVED}">'
            f'{_slot("lastUpdateTime", when)}<Name><LocalizedString value="Folder {n}"/></Name>'
            f'<VersionInfo versionName="1"/>'
            f'<Classification classificationScheme="{C.FOL_CODE_LIST}" classifiedObject="{u}" id="{uuid_of(40, n)}" '
            f'nodeRepresentation="FOLDER">{_slot("codingScheme", "2.999.5")}<Name><LocalizedString value="F"/></Name>'
            f'</Classification><Classification classifiedObject="{u}" classificationNode="{C.FOLDER_NODE}" '
            f'id="{uuid_of(41, n)}"/><ExternalIdentifier identificationScheme="{C.FOL_UNIQUE_ID}" id="{uuid_of(42, n)}" '
            f'registryObject="{u}" value="{unique_id}"/><ExternalIdentifier identificationScheme="{C.FOL_PATIENT_ID}" '
            f'id="{uuid_of(43, n)}" registryObject="{u}" value="{_esc(patient)}"/></RegistryPackage>')


def assoc_xml(u: str, kind: str, source: str, target: str, original: bool) -> str:
    slot = _slot("SubmissionSetStatus", "Original") if original else ""
    return (f'<Association xmlns="{RIM}" id="{u}" associationType="{kind}" sourceObject="{source}" '
            f'targetObject="{target}" status="{C.STATUS_APPROVED}">{slot}</Association>')


def _dtm(rng: random.Random, start_year: int = 2015, years: int = 10) -> str:
    t = _dt.datetime(start_year, 1, 1) + _dt.timedelta(seconds=rng.randrange(years * 365 * 86400))
    return t.strftime("%Y%m%d%H%M%S")


class Generator:
    """Rows per table, patient by patient (deterministic for a given seed)."""

    def __init__(self, docs: int, patients: int, seed: int = 1):
        vs = json.loads(VALUESETS.read_text())
        self.cs = {k: codes(vs, k) for k in ("classCode", "typeCode", "formatCode", "confidentialityCode",
                                             "healthcareFacilityTypeCode", "practiceSettingCode", "eventCodeList")}
        # confidentiality: mostly normal, some restricted, few secret (as in a real EPR)
        conf = {c[0]: c for c in self.cs["confidentialityCode"]}
        self.conf_weights = [(c, 85 if "norm" in c[2].lower() else 12 if "restr" in c[2].lower() else 3)
                             for c in conf.values()]
        self.docs, self.patients, self.seed = docs, patients, seed
        self.per_patient = max(1, docs // patients)
        self.authors = [f"^{fam}^{giv}^^^Dr." for fam in ("Muster", "Meier", "Keller", "Weber", "Huber", "Rossi",
                                                           "Favre", "Bianchi") for giv in ("Anna", "Max", "Lea", "Luca")]

    def pick_conf(self, rng: random.Random):
        r = rng.randrange(100)
        acc = 0
        for c, w in self.conf_weights:
            acc += w
            if r < acc:
                return c
        return self.conf_weights[0][0]

    def tables(self, p_from: int, p_to: int) -> dict[str, list[tuple]]:
        out: dict[str, list[tuple]] = {k: [] for k in ("xds_document", "xds_document_code", "xds_document_author",
                                                      "xds_submission_set", "xds_submission_set_author",
                                                      "xds_folder", "xds_folder_code", "xds_association",
                                                      "mpi_patient")}
        k = self.per_patient
        now = "2026-01-01T00:00:00+00:00"
        for p in range(p_from, p_to):
            rng = random.Random(self.seed * 1_000_003 + p)
            patient = cx(p)
            out["mpi_patient"].append((p + 1, pid_of(p), "761337610%09d" % p, "active", "", "", "U", "{}", now, now))
            ss_ids = [uuid_of(2, p * 3 + s) for s in range(3)]
            ss_times = sorted(_dtm(rng, 2016, 9) for _ in range(3))
            for s in range(3):
                n = p * 3 + s
                out["xds_submission_set"].append((ss_ids[s], f"2.999.2000.{n}", patient, "Approved", "2.999.1.1",
                                                  ss_times[s], "71388002", "2.16.840.1.113883.6.96", n,
                                                  ss_xml(ss_ids[s], n, patient, ss_times[s], f"2.999.2000.{n}")))
                out["xds_submission_set_author"].append((ss_ids[s], "^Bench^Source^^^"))
            docs = []
            for j in range(k):
                n = p * k + j
                ct = _dtm(rng)
                st = ct[:8] + "080000"
                d = dict(n=n, entry_uuid=uuid_of(1, n), lid=uuid_of(1, n), version=1, unique_id=f"2.999.1000.{n}",
                         patient_id=patient, status="Approved", ct=ct, st=st, sp=ct[:8] + "170000",
                         cls=None, author=rng.choice(self.authors),
                         **{"class": rng.choice(self.cs["classCode"]), "type": rng.choice(self.cs["typeCode"]),
                            "format": rng.choice(self.cs["formatCode"]), "conf": self.pick_conf(rng),
                            "facility": rng.choice(self.cs["healthcareFacilityTypeCode"]),
                            "practice": rng.choice(self.cs["practiceSettingCode"]),
                            "event": rng.choice(self.cs["eventCodeList"]) if rng.random() < 0.4 else None},
                         ss=ss_ids[min(2, j * 3 // k)])
                docs.append(d)
            if k >= 2:   # the last entry replaces the first (RPLC): first Deprecated, version 2 of its lid
                docs[0]["status"] = "Deprecated"
                docs[-1]["lid"], docs[-1]["version"] = docs[0]["entry_uuid"], 2
                docs[-1]["ss"] = ss_ids[2]
            for d in docs:
                out["xds_document"].append((
                    d["entry_uuid"], d["lid"], d["version"], d["unique_id"], patient, d["status"], C.DOC_ENTRY_STABLE,
                    d["class"][0], d["class"][1], d["type"][0], d["type"][1], d["format"][0], d["format"][1],
                    d["practice"][0], d["practice"][1], d["facility"][0], d["facility"][1], d["ct"], d["st"], d["sp"],
                    "application/pdf", "%040x" % d["n"], 1000 + d["n"] % 5000, REPO, d["ss"], d["n"], doc_xml(d)))
                out["xds_document_code"].append((d["entry_uuid"], "conf", d["conf"][0], d["conf"][1]))
                if d["event"]:
                    out["xds_document_code"].append((d["entry_uuid"], "event", d["event"][0], d["event"][1]))
                out["xds_document_author"].append((d["entry_uuid"], d["author"]))
            an = [p * 32]

            def assoc(kind: str, source: str, target: str, ss: str, original: bool = False) -> str:
                u = uuid_of(3, an[0])
                out["xds_association"].append((u, kind, source, target, "Approved", ss, an[0],
                                               assoc_xml(u, kind, source, target, original)))
                an[0] += 1
                return u

            for d in docs:
                assoc(C.ASSOC_HAS_MEMBER, d["ss"], d["entry_uuid"], d["ss"], True)
            if k >= 2:
                r = assoc(C.ASSOC_RPLC, docs[-1]["entry_uuid"], docs[0]["entry_uuid"], ss_ids[2])
                assoc(C.ASSOC_HAS_MEMBER, ss_ids[2], r, ss_ids[2])
            if k >= 3 and p % 4 == 0:
                x = assoc(C.ASSOC_XFRM, docs[-2]["entry_uuid"], docs[1]["entry_uuid"], docs[-2]["ss"])
                assoc(C.ASSOC_HAS_MEMBER, docs[-2]["ss"], x, docs[-2]["ss"])
            if k >= 2 and p % 5 == 0:
                fu = uuid_of(4, p)
                out["xds_folder"].append((fu, fu, f"2.999.3000.{p}", patient, "Approved", ss_times[0], p,
                                          folder_xml(fu, p, patient, ss_times[0], f"2.999.3000.{p}")))
                out["xds_folder_code"].append((fu, "FOLDER", "2.999.5"))
                assoc(C.ASSOC_HAS_MEMBER, ss_ids[0], fu, ss_ids[0])
                for d in docs[:2]:
                    m = assoc(C.ASSOC_HAS_MEMBER, fu, d["entry_uuid"], ss_ids[0])
                    assoc(C.ASSOC_HAS_MEMBER, ss_ids[0], m, ss_ids[0])
        return out


COLUMNS = {
    "xds_document": ("entry_uuid", "lid", "version", "unique_id", "patient_id", "status", "object_type",
                     "class_code", "class_scheme", "type_code", "type_scheme", "format_code", "format_scheme",
                     "practice_setting_code", "practice_setting_scheme", "facility_type_code", "facility_type_scheme",
                     "creation_time", "service_start_time", "service_stop_time", "mime_type", "hash", "size",
                     "repository_unique_id", "submission_set", "seq", "xml"),
    "xds_document_code": ("document", "kind", "code", "scheme"),
    "xds_document_author": ("document", "person"),
    "xds_submission_set": ("entry_uuid", "unique_id", "patient_id", "status", "source_id", "submission_time",
                           "content_type_code", "content_type_scheme", "seq", "xml"),
    "xds_submission_set_author": ("submission_set", "person"),
    "xds_folder": ("entry_uuid", "lid", "unique_id", "patient_id", "status", "last_update_time", "seq", "xml"),
    "xds_folder_code": ("folder", "code", "scheme"),
    "xds_association": ("entry_uuid", "type", "source", "target", "status", "submission_set", "seq", "xml"),
    "mpi_patient": ("id", "mpi_pid", "epr_spid", "status", "family_norm", "given_norm", "gender", "demographics",
                    "created_at", "updated_at"),
}


def batches(gen: Generator, size: int = 2000) -> Iterator[dict[str, list[tuple]]]:
    for p in range(0, gen.patients, size):
        yield gen.tables(p, min(gen.patients, p + size))


def load_sqlite(path: str, gen: Generator) -> None:
    import sqlite3
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-400000")
    conn.execute("BEGIN")
    for batch in batches(gen):
        for table, rows in batch.items():
            cols = COLUMNS[table]
            conn.executemany(f"INSERT INTO {table} ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})", rows)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def load_postgres(url: str, gen: Generator) -> None:
    import psycopg
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        with conn.cursor() as cur:
            cur.execute("SET synchronous_commit = off")
            for batch in batches(gen):
                for table, rows in batch.items():
                    with cur.copy(f"COPY {table} ({','.join(COLUMNS[table])}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
            if gen.patients:
                cur.execute("SELECT setval(pg_get_serial_sequence('mpi_patient', 'id'), %s)", (gen.patients,))
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")


def main(argv: Iterable[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="SQLAlchemy URL of an empty database (created/migrated here)")
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--patients", type=int, default=None, help="default: docs / 10")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(list(argv) if argv is not None else None)
    patients = args.patients or max(1, args.docs // 10)
    from gateway.store.db import upgrade
    t0 = time.perf_counter()
    upgrade(args.url)
    gen = Generator(args.docs, patients, args.seed)
    if args.url.startswith("sqlite"):
        load_sqlite(args.url.split("///", 1)[1], gen)
    else:
        load_postgres(args.url, gen)
    print(json.dumps({"docs": gen.per_patient * patients, "patients": patients,
                      "seconds": round(time.perf_counter() - t0, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
