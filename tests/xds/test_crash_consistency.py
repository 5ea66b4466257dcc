"""kill -9 at any point: no submission is ever partly visible, and an answered Success survives."""
from __future__ import annotations

import random
import threading
import time

import pytest
import sqlalchemy as sa

from gateway.clients.soap import SoapClient
from gateway.clients.submission import DocumentSpec, provide_and_register_request, retrieve_request
from gateway.soap.attachments import OutgoingAttachment
from profiles.xds import constants as C
from support.db import truncate_all
from support.gateway_proc import make_gateway

RS = "{%s}" % C.NS_RS
XDS = "{%s}" % C.NS_XDS
DOCS_PER_SUBMISSION = 3


def _submitter(gw, pid, stop, attempts, lock):
    client = SoapClient(gw.repository_url, timeout=10)
    while not stop.is_set():
        docs = [DocumentSpec(random.randbytes(random.choice([200, 5000, 300_000])), mime_type="application/pdf")
                for _ in range(DOCS_PER_SUBMISSION)]
        body, parts = provide_and_register_request(pid, docs)
        record = {"docs": docs, "success": False}
        with lock:
            attempts.append(record)
        try:
            resp = client.call(C.ACTION_ITI41, body, [OutgoingAttachment(c, m, data=d) for c, m, d in parts],
                               mtom=True)
        except Exception:
            return  # the server died under us
        record["success"] = resp.body.get("status") == C.RESPONSE_SUCCESS


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_kill9_never_leaves_a_partial_submission(backend, tmp_path, request):
    url = None
    if backend == "postgresql":
        url = request.getfixturevalue("pg_template_url")
        truncate_all(url)
    gw = make_gateway(tmp_path / "data", url)
    pid = gw.add_patient("761337610411353650")
    db_url = url or f"sqlite:///{(tmp_path / 'data').resolve()}/epd-gateway.sqlite"
    attempts: list[dict] = []
    rng = random.Random(1234)
    for _round in range(3):
        gw.start("--workers", "1")
        stop, lock = threading.Event(), threading.Lock()
        threads = [threading.Thread(target=_submitter, args=(gw, pid, stop, attempts, lock)) for _ in range(6)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.8, 2.0))
        gw.kill9()
        stop.set()
        for t in threads:
            t.join(timeout=30)
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        registered = {r[0] for r in conn.execute(sa.text("select unique_id from xds_document"))}
        stored = {r[0] for r in conn.execute(sa.text("select unique_id from repo_document"))}
    engine.dispose()
    answered = [a for a in attempts if a["success"]]
    assert answered, "no submission completed before the kills: the test proves nothing"
    assert len(answered) < len(attempts), "every submission completed: no kill landed mid-flight"
    for a in attempts:
        uids = {d.unique_id for d in a["docs"]}
        in_registry, in_repo = uids & registered, uids & stored
        assert in_registry == in_repo, "registry and repository disagree"
        assert len(in_registry) in (0, DOCS_PER_SUBMISSION), "a submission is partly visible"
        if a["success"]:
            assert in_registry == uids, "a submission answered Success was lost"
    # and what was answered Success is retrievable, byte for byte, after the restart
    gw.start("--workers", "1")
    try:
        sample = answered[-1]["docs"]
        resp = SoapClient(gw.repository_url).call(
            C.ACTION_ITI43, retrieve_request([("2.16.756.5.30.1.999.1.2", d.unique_id) for d in sample]), mtom=True)
        assert resp.body.find(RS + "RegistryResponse").get("status") == C.RESPONSE_SUCCESS
        assert len(resp.attachments) == len(sample)
        got = sorted(a.read() for a in resp.attachments.values())
        assert got == sorted(d.content for d in sample)
    finally:
        gw.stop()
