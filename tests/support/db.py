"""PostgreSQL test helpers."""
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
