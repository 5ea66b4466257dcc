"""Durable first under kill -9: during an ITI-41 load the server is killed (several times); afterwards
every acknowledged submission (Success received) has its Success audit record, every submission in
the registry has one, no Success record claims a submission that is not in the registry, and
``epd-gateway audit verify`` passes after the restart."""
from __future__ import annotations

import json
import random
import threading
import time

import pytest
import sqlalchemy as sa
from lxml import etree

from gateway.clients.soap import SoapClient
from gateway.clients.submission import DocumentSpec, provide_and_register_request
from gateway.soap.attachments import OutgoingAttachment
from profiles.atna import codes as K
from profiles.outcome import EVENT_SUCCESS
from profiles.xds import constants as C
from support.db import truncate_all
from support.gateway_proc import make_gateway

RIM = "{%s}" % C.NS_RIM


def _submission_set_unique_id(body) -> str:
    (value,) = [e.get("value") for e in body.iter(RIM + "ExternalIdentifier")
                if e.get("identificationScheme") == C.SS_UNIQUE_ID]
    return value


def _submitter(gw, pid, stop, attempts, lock):
    client = SoapClient(gw.repository_url, timeout=10)
    while not stop.is_set():
        docs = [DocumentSpec(random.randbytes(random.choice([200, 5000, 60_000])), mime_type="application/pdf")
                for _ in range(2)]
        body, parts = provide_and_register_request(pid, docs)
        record = {"ss": _submission_set_unique_id(body), "success": False}
        with lock:
            attempts.append(record)
        try:
            resp = client.call(C.ACTION_ITI41, body, [OutgoingAttachment(c, m, data=d) for c, m, d in parts],
                               mtom=True)
        except Exception:
            return  # the server died under us
        record["success"] = resp.body.get("status") == C.RESPONSE_SUCCESS


def _audited_submission_sets(gw) -> tuple[set[str], int]:
    """The submission set uniqueIds the ITI-41 Success records of ``audit export`` claim, and how many
    ITI-41 Success records there are."""
    exported = json.loads(gw.cli("audit", "export", "--format", "json").stdout)
    claimed, successes = set(), 0
    for r in exported:
        if r["transaction"] != "ITI-41" or r["outcome"] != EVENT_SUCCESS:
            continue
        successes += 1
        msg = etree.fromstring(r["message"].encode("utf-8"))
        for obj in msg.iter("ParticipantObjectIdentification"):
            code = obj.find("ParticipantObjectIDTypeCode")
            if code is not None and code.get("csd-code") == K.OBJ_SUBMISSION_SET[0]:
                claimed.add(obj.get("ParticipantObjectID"))
    return claimed, successes


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_kill9_every_acknowledged_submission_has_its_record_and_no_record_is_invented(backend, tmp_path, request):
    url = None
    if backend == "postgresql":
        url = request.getfixturevalue("pg_template_url")
        truncate_all(url)
    gw = make_gateway(tmp_path / "data", url)
    pid = gw.add_patient("761337610411353650")
    db_url = url or f"sqlite:///{(tmp_path / 'data').resolve()}/epd-gateway.sqlite"
    attempts: list[dict] = []
    rng = random.Random(4242)
    for round_ in range(3):
        gw.start("--workers", str(1 + round_ % 2))   # one worker, then two appending to one chain
        stop, lock = threading.Event(), threading.Lock()
        threads = [threading.Thread(target=_submitter, args=(gw, pid, stop, attempts, lock)) for _ in range(6)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.8, 2.0))
        gw.kill9()
        stop.set()
        for t in threads:
            t.join(timeout=30)
    answered = {a["ss"] for a in attempts if a["success"]}
    assert answered, "no submission completed before the kills: the test proves nothing"
    assert len(answered) < len(attempts), "every submission completed: no kill landed mid-flight"

    gw.start("--workers", "1")   # the restart
    try:
        engine = sa.create_engine(db_url)
        with engine.connect() as conn:
            registered = {r[0] for r in conn.execute(sa.text("select unique_id from xds_submission_set"))}
        engine.dispose()
        claimed, successes = _audited_submission_sets(gw)
        assert answered <= registered, "a submission answered Success was lost"
        assert answered <= claimed, "a submission answered Success has no audit record"
        assert claimed <= registered, "a Success audit record claims a submission that is not in the registry"
        assert registered <= claimed, "a committed submission has no audit record"
        assert successes == len(claimed), "a submission has more than one Success record"
        verify = gw.cli("audit", "verify")
        assert "intact" in verify.stdout
    finally:
        gw.stop()
