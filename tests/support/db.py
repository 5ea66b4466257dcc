"""Database helpers for the tests (SQLite files, the session's PostgreSQL database)."""
from __future__ import annotations

import sqlalchemy as sa


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
