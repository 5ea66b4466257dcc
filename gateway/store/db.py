"""Engine creation and schema upgrade (Alembic) for SQLite (embedded default) and PostgreSQL."""
from __future__ import annotations

import fcntl
import os
import threading
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine

# One MetaData for the whole schema: every table module registers here; Alembic migrations
# in gateway/store/migrations create and evolve the tables.
metadata = MetaData()

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None   # transactions are begun by the "begin" listener below
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")     # an answered submission survives power loss too
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_file(url: str) -> str | None:
    """The database file of a SQLite URL (None for memory databases and other backends)."""
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1].split("?", 1)[0] if "///" in url else ""
    return None if not path or path == ":memory:" else path


def _ensure_sqlite_dir(url: str) -> None:
    path = _sqlite_file(url)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def make_engine(url: str, **kw) -> Engine:
    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kw)
        event.listen(engine, "connect", _sqlite_pragmas)
        # Write transactions (``write_transaction``) queue behind the gateway's other writers and
        # take SQLite's write lock at BEGIN IMMEDIATE instead of failing on a read->write lock
        # upgrade; reads begin DEFERRED and, in WAL mode, never block nor wait for a writer.
        @event.listens_for(engine, "begin")
        def _begin(conn):
            immediate = conn.get_execution_options().get("sqlite_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        path = _sqlite_file(url)
        engine._epd_writer_queue = _SqliteWriterQueue(path + "-writelock" if path else None)  # type: ignore[attr-defined]
        return engine
    kw.setdefault("pool_size", 10)
    kw.setdefault("max_overflow", 20)
    # No pre-ping: it costs a round trip on every checkout (13% of an ITI-18 request's CPU). A
    # connection broken by a database restart fails its statement once; SQLAlchemy then discards
    # the whole pool, the request is answered with a clear error and nothing half-written, and the
    # next requests get fresh connections. Idle connections are recycled before servers drop them.
    kw.setdefault("pool_pre_ping", False)
    kw.setdefault("pool_recycle", 1800)
    return create_engine(url, **kw)


class _SqliteWriterQueue:
    """Hands SQLite's write lock from one writer to the next without its busy-handler sleeps.

    A writer that finds the database locked sleeps in SQLite's busy handler (1, 2, 5 ... 100 ms
    steps) and is not woken when the lock is released: under concurrent submissions most of the
    time went to those sleeps (p99 of seconds). Writers of this process queue on a thread lock,
    writers of the other worker processes on an ``flock`` of ``<database>-writelock``; both wake
    the next writer as soon as the previous one has committed. Only the order of waiting changes:
    BEGIN IMMEDIATE, synchronous=FULL and busy_timeout (for writers outside the gateway) stay.
    The kernel drops an flock when its process dies, so a kill -9 leaves no stale lock.
    """

    def __init__(self, path: str | None) -> None:
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._path = path
        self._fd: int | None = None
        self._pid = 0

    def _file(self) -> int | None:
        if self._path is None:
            return None
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd

    @contextmanager
    def hold(self):
        with self._thread_lock:
            fd = self._file() if self._depth == 0 else None
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if fd is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)


@contextmanager
def _sqlite_write_transaction(engine: Engine):
    queue: _SqliteWriterQueue = engine._epd_writer_queue  # type: ignore[attr-defined]
    with queue.hold():
        with engine.execution_options(sqlite_write=True).begin() as conn:
            yield conn


def write_transaction(engine: Engine):
    """``with write_transaction(engine) as conn:`` one transaction that will write.

    On SQLite (an engine from :func:`make_engine`) it takes the write lock up front (BEGIN
    IMMEDIATE), after queueing behind the other writers of the gateway (:class:`_SqliteWriterQueue`);
    elsewhere it is ``engine.begin()``.
    """
    if engine.dialect.name == "sqlite":
        return _sqlite_write_transaction(engine)
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
