from __future__ import annotations

import pytest

from support.db import truncate_all
from support.gateway_proc import make_gateway

SPID = "761337610411353650"
SPID2 = "761337610433933946"


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "sqlite-tls"])
def gateway(request, tmp_path_factory):
    """The real gateway, one worker, on SQLite and on PostgreSQL, with two patients; "sqlite-tls":
    the same over TLS (a test CA the test process trusts through REQUESTS_CA_BUNDLE)."""
    data = tmp_path_factory.mktemp("gw")
    url = None
    tls = {}
    mp = pytest.MonkeyPatch()
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_template_url")
        truncate_all(url)
    if request.param.endswith("-tls"):
        from support.pki import TestCA
        ca = TestCA("xds tests CA")
        cert, key = ca.issue("127.0.0.1", server=True).write(data / "pki", "server")
        (data / "pki" / "ca.pem").write_bytes(ca.cert_pem)
        mp.setenv("REQUESTS_CA_BUNDLE", str(data / "pki" / "ca.pem"))
        tls = {"tls_cert": str(cert), "tls_key": str(key)}
    gw = make_gateway(data, url, **tls)
    gw.pid = gw.add_patient(SPID)
    gw.pid2 = gw.add_patient(SPID2, "Other", "Otto")
    try:
        gw.start("--workers", "1")
        if tls:
            assert gw.base_url.startswith("https://")
        yield gw
    finally:
        gw.stop()
        mp.undo()
