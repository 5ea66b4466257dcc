"""Engine creation and schema upgrade (Alembic) for SQLite (embedded default) and PostgreSQL."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine

# One MetaData for the whole schema: every table module registers here; Alembic migrations
# in gateway/store/migrations create and evolve the tables.
metadata = MetaData()

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")     # an answered submission survives power loss too
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _ensure_sqlite_dir(url: str) -> None:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)


def make_engine(url: str, **kw) -> Engine:
    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kw)
        event.listen(engine, "connect", _sqlite_pragmas)
        # Write transactions (``write_transaction``) take SQLite's write lock at BEGIN IMMEDIATE, so
        # concurrent writers queue (busy_timeout) instead of failing on a read->write lock upgrade;
        # reads begin DEFERRED and, in WAL mode, never block nor wait for a writer.
        @event.listens_for(engine, "begin")
        def _begin(conn):
            immediate = conn.get_execution_options().get("sqlite_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        @event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_conn, _record):
            dbapi_conn.isolation_level = None
        return engine
    kw.setdefault("pool_size", 10)
    kw.setdefault("max_overflow", 20)
    kw.setdefault("pool_pre_ping", True)
    return create_engine(url, **kw)


def write_transaction(engine: Engine):
    """``with write_transaction(engine) as conn:`` one transaction that will write.

    On SQLite it takes the write lock up front (BEGIN IMMEDIATE); elsewhere it is ``engine.begin()``.
    """
    if engine.dialect.name == "sqlite":
        return engine.execution_options(sqlite_write=True).begin()
    return engine.begin()


def alembic_config(url: str):
    from alembic.config import Config
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema at ``url`` to ``revision`` (``epd-gateway db upgrade``)."""
    from alembic import command
    _ensure_sqlite_dir(url)
    command.upgrade(alembic_config(url), revision)
