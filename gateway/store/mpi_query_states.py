"""PDQ continuation state in ``mpi_query_state`` (the :class:`QueryStatePort` shared by all gateway
processes: any of them serves the next batch of a query another one started)."""
from __future__ import annotations

import datetime as _dt
import json

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.store.db import write_transaction
from gateway.store.mpi_tables import mpi_query_state
from profiles.hl7v3.ports import QueryState


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


class SqlQueryStates:
    """:class:`profiles.hl7v3.ports.QueryStatePort` on the database."""

    def __init__(self, engine: Engine, reader: Engine | None = None) -> None:
        self.engine = engine
        self._reader = reader or engine

    def save(self, query_key: str, state: QueryState) -> None:
        data = {"keys": state.keys, "scores": state.scores, "position": state.position,
                "return_domains": list(state.return_domains),
                "qbp": state.query_by_parameter.decode("utf-8"), "extra": state.extra}
        with write_transaction(self.engine) as conn:
            conn.execute(mpi_query_state.delete().where(mpi_query_state.c.query_key == query_key))
            conn.execute(mpi_query_state.insert().values(query_key=query_key, created_at=_now(), state=data))

    def load(self, query_key: str) -> QueryState | None:
        with self._reader.connect() as conn:
            row = conn.execute(sa.select(mpi_query_state.c.state)
                               .where(mpi_query_state.c.query_key == query_key)).first()
        if row is None:
            return None
        data = row.state if isinstance(row.state, dict) else json.loads(row.state)
        return QueryState(keys=list(data["keys"]), scores=list(data["scores"]), position=data["position"],
                          return_domains=tuple(data.get("return_domains", ())),
                          query_by_parameter=data.get("qbp", "").encode("utf-8"), extra=data.get("extra", {}))

    def delete(self, query_key: str) -> bool:
        with write_transaction(self.engine) as conn:
            return conn.execute(mpi_query_state.delete()
                                .where(mpi_query_state.c.query_key == query_key)).rowcount > 0

    def purge_query_states(self, older_than: _dt.timedelta) -> int:
        """Drop continuations older than ``older_than`` (housekeeping)."""
        with write_transaction(self.engine) as conn:
            return conn.execute(mpi_query_state.delete()
                                .where(mpi_query_state.c.created_at < _now() - older_than)).rowcount

