"""Shared fixtures: databases (SQLite always, PostgreSQL on 127.0.0.1:5432 where present).

Storage tests take the ``db_url`` fixture and run once per backend. PostgreSQL is mandatory in CI
(``CI=true``): a missing server fails the run there instead of skipping.
"""
from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/support importable
from support.db import IN_CI, PG_ADMIN_URL, empty_database, pg_available as _pg_available  # noqa: E402



@pytest.fixture(scope="session")
def pg_template_url():  # noqa: C901
    """A PostgreSQL database, migrated to head, created for this test session and dropped after."""
    problem = _pg_available()
    if problem:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI and is not reachable at {PG_ADMIN_URL}: {problem}")
        pytest.skip(f"PostgreSQL not reachable: {problem}")
    name = f"epd_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    from gateway.store.db import upgrade
    upgrade(url)
    yield url
    with admin.connect() as c:
        c.execute(sa.text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
        c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """An empty, migrated database: a fresh SQLite file, or the session's PostgreSQL database emptied."""
    return empty_database(request, request.param, tmp_path)


@pytest.fixture
def sqlite_url(request, tmp_path):
    return empty_database(request, "sqlite", tmp_path)
