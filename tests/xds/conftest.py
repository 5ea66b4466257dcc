from __future__ import annotations

import pytest

from support.db import truncate_all
from support.gateway_proc import make_gateway

SPID = "761337610411353650"
SPID2 = "761337610433933946"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def gateway(request, tmp_path_factory):
    """The real gateway, one worker, on SQLite and on PostgreSQL, with two patients."""
    data = tmp_path_factory.mktemp("gw")
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_template_url")
        truncate_all(url)
    gw = make_gateway(data, url)
    gw.pid = gw.add_patient(SPID)
    gw.pid2 = gw.add_patient(SPID2, "Other", "Otto")
    gw.start("--workers", "1")
    yield gw
    gw.stop()
