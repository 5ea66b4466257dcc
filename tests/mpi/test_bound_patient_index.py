"""The registry's patient check runs on the caller's connection (its transaction), not a pooled one."""
from __future__ import annotations

import datetime as _dt

import sqlalchemy as sa

from gateway.store.db import make_engine, write_transaction
from gateway.store.mpi import MpiStore, mpi_patient

MPI = "2.16.756.5.30.1.999.1.1"


def test_bound_check_sees_its_own_transaction(db_url):
    engine = make_engine(db_url)
    store = MpiStore(engine, MPI)
    pid = store.add_patient("761337610411353650", "Muster", "Anna", _dt.date(1980, 1, 2), "F")
    assert store.is_known_mpi_pid(pid.id) and not store.is_known_mpi_pid("nobody")
    with write_transaction(engine) as conn:
        # retire the patient inside an open transaction: only that transaction sees it yet
        conn.execute(sa.update(mpi_patient).where(mpi_patient.c.mpi_pid == pid.id).values(status="merged"))
        assert store.bound(conn).is_known_mpi_pid(pid.id) is False
        conn.rollback()
    assert store.is_known_mpi_pid(pid.id)
    engine.dispose()
