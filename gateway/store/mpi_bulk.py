"""Bulk load of new persons into the MPI (benchmarks, migrations)."""
from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Sequence

import sqlalchemy as sa

from gateway.store.db import write_transaction
from gateway.store.mpi_codec import demographics_dumps
from gateway.store.mpi_tables import address_rows, mpi_address, mpi_local_id, mpi_name, mpi_patient, name_rows
from profiles.hl7v3.mpi import STATUS_ACTIVE, PatientFeed, normalize

if TYPE_CHECKING:
    from gateway.store.mpi import MpiStore


def bulk_load(store: "MpiStore", feeds: Sequence[PatientFeed]) -> int:
    """Insert many new persons in one transaction (no linking: all identifiers must be new).

    Fast path for benchmarks and migrations: patient keys are allocated up front (the PostgreSQL
    sequence; max(id) under SQLite's write lock), then every table is written in one go
    (``COPY ... FROM STDIN`` on PostgreSQL, ``executemany`` on SQLite)."""
    for feed in feeds:
        store._check_feed(feed, require_spid=True)
    if not feeds:
        return 0
    now = _now()
    with write_transaction(store.engine) as conn:
        pg = conn.dialect.name == "postgresql"
        n = len(feeds)
        if pg:
            keys = list(conn.execute(sa.text(
                "SELECT nextval(pg_get_serial_sequence('mpi_patient', 'id')) FROM generate_series(1, :n)"),
                {"n": n}).scalars())
        else:
            top = conn.execute(sa.select(sa.func.max(mpi_patient.c.id))).scalar() or 0
            keys = list(range(top + 1, top + 1 + n))
        patients, names, addrs, lids = [], [], [], []
        for key, feed in zip(keys, feeds):
            d = feed.demographics
            primary = d.primary_name
            patients.append((key, feed.mpi_pid or str(uuid.uuid4()), feed.epr_spid, STATUS_ACTIVE,
                             normalize(primary.family)[:255], normalize(primary.given_text)[:255],
                             d.birth_date, d.gender, demographics_dumps(d), now, now))
            names += [(r["patient_id"], r["family_norm"], r["given_norm"], r["birth_date"])
                      for r in name_rows(key, d)]
            addrs += [(r["patient_id"], r["street_norm"], r["city_norm"], r["postal_code"], r["state_norm"],
                       r["country_norm"]) for r in address_rows(key, d)]
            lids += [(key, cx.oid, cx.id, cx.namespace or "") for cx in feed.local_ids]
        plan = ((mpi_patient, ("id", "mpi_pid", "epr_spid", "status", "family_norm", "given_norm",
                               "birth_date", "gender", "demographics", "created_at", "updated_at"), patients),
                (mpi_name, ("patient_id", "family_norm", "given_norm", "birth_date"), names),
                (mpi_address, ("patient_id", "street_norm", "city_norm", "postal_code", "state_norm",
                               "country_norm"), addrs),
                (mpi_local_id, ("patient_id", "oid", "id_value", "namespace"), lids))
        dbapi = conn.connection.dbapi_connection
        for table, cols, rows in plan:
            if not rows:
                continue
            if pg:
                with dbapi.cursor() as cur, cur.copy(
                        f"COPY {table.name} ({', '.join(cols)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:   # the SQLite column types' own bind processing (dates, datetimes)
                procs = [None if c == "demographics" else table.c[c].type._cached_bind_processor(conn.dialect)
                         for c in cols]
                if any(procs):
                    rows = [tuple(p(v) if p else v for p, v in zip(procs, row)) for row in rows]
                cur = dbapi.cursor()
                cur.executemany(f"INSERT INTO {table.name} ({', '.join(cols)}) "
                                f"VALUES ({', '.join('?' * len(cols))})", rows)
                cur.close()
    return n



def _now():
    import datetime as _dt
    return _dt.datetime.now(_dt.timezone.utc)
