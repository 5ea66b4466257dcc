"""Without pool pre-ping, a PostgreSQL connection killed under the gateway costs at most one failed
request; the next ones succeed on fresh connections."""
from __future__ import annotations

import sqlalchemy as sa

from gateway.store.db import make_engine


def test_pool_recovers_after_backends_are_killed(request):
    url = request.getfixturevalue("pg_template_url")
    engine = make_engine(url)
    with engine.connect() as c:
        assert c.execute(sa.text("select 1")).scalar() == 1
        pid = c.execute(sa.text("select pg_backend_pid()")).scalar()
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text("select pg_terminate_backend(:p)"), {"p": pid})
    admin.dispose()
    failures = 0
    for _ in range(3):
        try:
            with engine.connect() as c:
                assert c.execute(sa.text("select 1")).scalar() == 1
        except sa.exc.DBAPIError as exc:
            assert exc.connection_invalidated
            failures += 1
    assert failures <= 1
    engine.dispose()
