"""Migration 0003 on a registry that already holds documents: the uniqueId table is filled from
them, the uniqueness moves there, and the migrated registry accepts an identical resubmission."""
from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa

from gateway.store.db import upgrade
from support.db import IN_CI, PG_ADMIN_URL, pg_available as _pg_available



def _row(uid, uuid_, hash_):
    return dict(entry_uuid=uuid_, lid=uuid_, version=1, unique_id=uid, patient_id="p^^^&1.2&ISO", status="Approved",
                object_type="x", hash=hash_, size=3, submission_set="ss", seq=1, xml="<x/>")


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/m.sqlite"
        return
    problem = _pg_available()
    if problem:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI: {problem}")
        pytest.skip(f"PostgreSQL not reachable: {problem}")
    name = f"epd_mig_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as c:
        c.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n "
                          "AND pid <> pg_backend_pid()"), {"n": name})
        c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


def test_0003_fills_the_unique_id_table_and_drops_the_unique_constraint(fresh_url):
    upgrade(fresh_url, "0002_mpi")
    engine = sa.create_engine(fresh_url)
    docs = sa.table("xds_document", *(sa.column(c) for c in _row("", "", "")))
    with engine.begin() as c:
        c.execute(docs.insert(), [_row("1.2.3.1", "urn:uuid:a1", "a" * 40), _row("1.2.3.2", "urn:uuid:a2", None)])
        with pytest.raises(sa.exc.IntegrityError):
            with c.begin_nested():
                c.execute(docs.insert(), [_row("1.2.3.1", "urn:uuid:a3", "a" * 40)])
    engine.dispose()
    upgrade(fresh_url)
    engine = sa.create_engine(fresh_url)
    with engine.begin() as c:
        rows = sorted(c.execute(sa.text("select unique_id, hash, size from xds_document_unique_id")).fetchall())
        assert [tuple(r) for r in rows] == [("1.2.3.1", "a" * 40, 3), ("1.2.3.2", None, 3)]
        c.execute(docs.insert(), [_row("1.2.3.1", "urn:uuid:a3", "a" * 40)])   # a second entry of one uniqueId
        assert c.execute(sa.text("select count(*) from xds_document where unique_id = '1.2.3.1'")).scalar() == 2
    engine.dispose()
