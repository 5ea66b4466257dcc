"""The Alembic migrations build exactly the schema the code declares (no drift), on both backends."""
from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from gateway import ratelimit  # noqa: F401  (registers its table)
from gateway.audit import tables as audit_tables  # noqa: F401
from gateway.store import mpi, policies, registry_tables  # noqa: F401  (register their tables)
from gateway.store.db import metadata


def test_migrations_match_the_declared_tables(db_url):
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = [d for d in compare_metadata(ctx, metadata)
                if not (isinstance(d, tuple) and d[0] == "remove_table" and d[1].name == "alembic_version")]
    engine.dispose()
    assert diff == []
