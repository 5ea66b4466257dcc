"""Database helpers for the tests (SQLite files, the session's PostgreSQL database)."""
from __future__ import annotations

import os

import sqlalchemy as sa

PG_ADMIN_URL = os.environ.get("EPD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pg_available() -> str | None:
    """None when PostgreSQL answers at PG_ADMIN_URL, else the reason it does not."""
    try:
        eng = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.execute(sa.text("select 1"))
        eng.dispose()
        return None
    except Exception as exc:  # pragma: no cover - depends on the machine
        return str(exc)


def truncate_all(url: str) -> None:
    eng = sa.create_engine(url)
    with eng.begin() as c:
        tables = [r[0] for r in c.execute(sa.text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"))]
        if tables:
            c.execute(sa.text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
    eng.dispose()


def empty_database(request, backend: str, directory) -> str:
    """The URL of an empty, migrated database: a new SQLite file in ``directory``, or the test
    session's PostgreSQL database (fixture ``pg_template_url``) emptied."""
    if backend == "sqlite":
        from gateway.store.db import upgrade
        url = f"sqlite:///{directory}/test.sqlite"
        upgrade(url)
        return url
    url = request.getfixturevalue("pg_template_url")
    truncate_all(url)
    return url
