"""Audit over the real server: one stored record per transaction, forwarded to rsyslog over TLS."""
from __future__ import annotations

import json

import pytest
from lxml import etree

from gateway.clients.soap import SoapClient, SoapFaultError
from gateway.clients.submission import DocumentSpec, provide_and_register_request, retrieve_request
from gateway.soap.attachments import OutgoingAttachment
from profiles.atna.schema import schema_errors
from profiles.xds import constants as C
from support.gateway_proc import make_gateway, post_raw
from support.pki import FileCA as CertificateAuthority
from support.rsyslog import Rsyslog

SPID = "761337610411353650"
REPO_ID = "2.16.756.5.30.1.999.1.2"

pytestmark = pytest.mark.integration


def _export(gw, *extra):
    return json.loads(gw.cli("audit", "export", *extra).stdout)


def test_every_transaction_is_audited_and_forwarded(tmp_path):
    ca = CertificateAuthority(tmp_path / "pki")
    server, client = ca.issue("localhost"), ca.issue("gateway", server=False)
    daemon = Rsyslog(tmp_path / "rsyslog", tls=server, ca=ca.path).start()
    gw = make_gateway(tmp_path / "gw", audit_syslog=f"tls://127.0.0.1:{daemon.port}", audit_tls_ca=str(ca.path),
                      audit_tls_cert=str(client.cert), audit_tls_key=str(client.key))
    pid = gw.add_patient(SPID)
    gw.start("--workers", "2")
    try:
        doc = DocumentSpec(b"%PDF-1.4 audit", title="Audit test")
        body, parts = provide_and_register_request(pid, [doc])
        repo = SoapClient(gw.repository_url)
        ok = repo.call(C.ACTION_ITI41, body, [OutgoingAttachment(c, m, data=d) for c, m, d in parts], mtom=True)
        assert ok.body.get("status").endswith("Success")
        body, parts = provide_and_register_request("nobody^^^&2.16.756.5.30.1.999.1.1&ISO", [DocumentSpec(b"x")])
        bad = repo.call(C.ACTION_ITI41, body, [OutgoingAttachment(c, m, data=d) for c, m, d in parts], mtom=True)
        assert bad.body.get("status").endswith("Failure")
        repo.call(C.ACTION_ITI43, retrieve_request([(REPO_ID, doc.unique_id)]), mtom=True)
        status, _ct, _body = post_raw(gw.repository_url, b"<not-xml")
        assert status == 400
        with pytest.raises(SoapFaultError):
            SoapClient(gw.repository_url).call("urn:unknown:action", etree.Element("{urn:x}x"))

        records = _export(gw)
        assert [(r["transaction"], r["outcome"]) for r in records] == [
            ("ITI-41", 0), ("ITI-41", 8), ("ITI-43", 0), ("", 8), ("", 8)]
        for r in records:
            assert schema_errors(etree.fromstring(r["message"])) == []
        first = etree.fromstring(records[0]["message"])
        assert first.find("EventIdentification/EventID").get("csd-code") == "110107"
        assert pid in records[0]["patient_ids"]
        assert gw.cli("audit", "verify").returncode == 0
        mine = _export(gw, "--patient", SPID)      # without XUA the repository's ITI-43 names no patient
        assert [r["seq"] for r in mine] == [records[0]["seq"]]
        xml = etree.fromstring(gw.cli("audit", "export", "--format", "xml").stdout.encode())
        assert len(xml.findall("AuditMessage")) == 5

        got = daemon.wait_for({r["record_id"] for r in records})
        assert {r["record_id"] for r in records} <= set(got)
        assert all(got[r["record_id"]] == r["message"] for r in records)
    finally:
        gw.stop()
        daemon.stop()


def test_audit_verify_detects_tampering(tmp_path):
    import sqlalchemy as sa
    gw = make_gateway(tmp_path / "gw")
    gw.start("--workers", "1")
    try:
        post_raw(gw.repository_url, b"<broken")
        post_raw(gw.repository_url, b"<broken")
    finally:
        gw.stop()
    assert gw.cli("audit", "verify").returncode == 0
    engine = sa.create_engine(f"sqlite:///{tmp_path}/gw/epd-gateway.sqlite")
    with engine.begin() as c:
        c.execute(sa.text("UPDATE audit_record SET outcome = 0 WHERE seq = 1"))
    engine.dispose()
    done = gw.cli("audit", "verify", check=False)
    assert done.returncode == 1 and "record 1" in done.stdout
