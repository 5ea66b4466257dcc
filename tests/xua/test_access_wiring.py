"""gateway/app.py wires the patient's access rights into the transactions with XUA only: without it
every transaction keeps ALLOW_ALL inside the XUA patient scope and ``/ppq`` is not mounted."""
from __future__ import annotations

import pytest

from gateway.access import ProvidePolicy, ReadPolicy, RetrievePolicy, RetrieveFilter
from gateway.app import Gateway, request_submission
from gateway.config import Settings
from gateway.store.db import upgrade
from profiles.authorization import ALLOW_ALL


@pytest.fixture
def settings(tmp_path):
    s = Settings(data_dir=str(tmp_path))
    upgrade(s.effective_database_url)
    return s


def _close(gw):
    gw.engine.dispose()


def test_without_xua_nothing_changes(settings):
    gw = Gateway(settings)
    try:
        assert gw.access is None
        assert gw.stored_query.policy.inner is ALLOW_ALL and gw.retrieve.policy.inner is ALLOW_ALL
        assert gw.iti41.policy.inner is ALLOW_ALL and gw.iti42.policy.inner is ALLOW_ALL
        assert b"ppq" not in gw.build_root().children
    finally:
        _close(gw)


def test_with_xua_the_rights_are_the_inner_policies_and_ppq_is_mounted(settings):
    import dataclasses
    gw = Gateway(dataclasses.replace(settings, xua_dev_trust=True))
    try:
        ar = gw.access
        assert ar is not None
        assert gw.stored_query.policy.inner is ar.read and isinstance(ar.read, ReadPolicy)
        assert gw.retrieve.policy.inner is ar.retrieve and isinstance(ar.retrieve, RetrievePolicy)
        for tx in (gw.iti41, gw.iti42):
            assert isinstance(tx.policy.inner, ProvidePolicy)
            assert tx.policy.inner.submission_of is request_submission
        assert isinstance(ar.retrieve.result_filter(None), RetrieveFilter)
        assert b"ppq" in gw.build_root().children
    finally:
        _close(gw)
