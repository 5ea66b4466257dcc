"""The patient's access rights (CH:ADR) enforced over the wire: the real server (``epd-gateway
serve``, 127.0.0.1) with mutual TLS and CH:XUA, the read rate limit and emergency-access notices to a
real SMTP server (aiosmtpd). Rights are set with ``epd-gateway policy`` and over ``POST /ppq``.

One record, three documents (normal, restricted, secret) filed by the patient; every professional
below has its own GLN, so each test sees only the rights it set."""
from __future__ import annotations

import email
import re
import socket

import pytest
from aiosmtpd.controller import Controller
from lxml import etree

from gateway.clients.soap import SoapClient, SoapFaultError
from gateway.clients.submission import DocumentSpec, provide_and_register_request
from gateway.clients.xds import XdsClient, registry_errors, response_status
from gateway.config import Settings
from profiles.adr import model as M
from profiles.adr import ppq as Q
from profiles.adr import xacml as X
from profiles.xds import constants as C
from support.gateway_proc import make_gateway
from support.pki import TestCA
from support.xua import make_assertion

pytestmark = pytest.mark.integration
REPOSITORY_UID = Settings().repository_unique_id
SPID = "761337610411353650"
EMAIL = "anna.muster@example.ch"
READ_LIMIT = 20        # the other tests' professionals stay below it
RESTRICTED = M.CONFIDENTIALITY_CODES["restricted"]
SECRET = M.CONFIDENTIALITY_CODES["secret"]


class _Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, envelope.content))
        return "250 OK"


@pytest.fixture(scope="module")
def smtp():
    with socket.socket() as probe:          # a free port (aiosmtpd checks its own with a connection)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mailbox = _Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, mailbox
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def env(tmp_path_factory, smtp):
    port, mailbox = smtp
    d = tmp_path_factory.mktemp("adr-gw")
    pki = d / "pki"
    ca = TestCA("community test CA")
    server_cert, server_key = ca.issue("127.0.0.1", server=True).write(pki, "server")
    client_cert, client_key = ca.issue("his.spital.example", client=True).write(pki, "client")
    signer = ca.issue("test X-Assertion Provider")
    (pki / "ca.pem").write_bytes(ca.cert_pem)
    (pki / "xua-trust.pem").write_bytes(signer.cert_pem)
    gw = make_gateway(d / "data", tls_cert=str(server_cert), tls_key=str(server_key),
                      tls_client_ca=str(pki / "ca.pem"), xua_trust=str(pki / "xua-trust.pem"),
                      read_limit=f"{READ_LIMIT}/1h", read_block="1h",
                      notify_smtp=f"smtp://127.0.0.1:{port}", notify_from="epr@community.example")
    gw.verify = str(pki / "ca.pem")
    gw.cert = (str(client_cert), str(client_key))
    gw.signer = signer
    gw.mailbox = mailbox
    gw.pid = gw.add_patient(SPID, "Muster", "Anna", "--email", EMAIL)
    gw.start("--workers", "2")
    # the patient files one document of each confidentiality level
    gw.docs = {"normal": DocumentSpec(b"normal letter", mime_type="text/plain"),
               "restricted": DocumentSpec(b"restricted letter", mime_type="text/plain",
                                          confidentiality_code=RESTRICTED),
               "secret": DocumentSpec(b"secret letter", mime_type="text/plain", confidentiality_code=SECRET)}
    with _xds(gw, "PAT", SPID) as xds:
        body, parts = provide_and_register_request(gw.pid, list(gw.docs.values()))
        rr = xds.provide_and_register(body, parts)
        assert response_status(rr) == C.RESPONSE_SUCCESS, registry_errors(rr)
    yield gw
    gw.stop()


def _xds(gw, role, subject, **kw):
    return XdsClient(gw.repository_url, gw.registry_url, timeout=30, verify=gw.verify, cert=gw.cert,
                     assertion=make_assertion(gw.signer, role=role, subject=subject, patient=SPID, **kw))


def _find(patient_id: str) -> etree._Element:
    Q_, R = "{%s}" % C.NS_QUERY, "{%s}" % C.NS_RIM
    req = etree.Element(Q_ + "AdhocQueryRequest", nsmap={"query": C.NS_QUERY, "rim": C.NS_RIM})
    etree.SubElement(req, Q_ + "ResponseOption", returnType="LeafClass", returnComposedObjects="true")
    aq = etree.SubElement(req, R + "AdhocQuery", id="urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d")
    for name, value in (("$XDSDocumentEntryPatientId", f"'{patient_id}'"),
                        ("$XDSDocumentEntryStatus", f"('{C.STATUS_APPROVED}')")):
        slot = etree.SubElement(aq, R + "Slot", name=name)
        etree.SubElement(etree.SubElement(slot, R + "ValueList"), R + "Value").text = value
    return req


def _uids(response) -> set[str]:
    assert response_status(response) == C.RESPONSE_SUCCESS
    return {ei.get("value") for ei in response.iter("{%s}ExternalIdentifier" % C.NS_RIM)
            if ei.get("identificationScheme") == C.DE_UNIQUE_ID}


def _levels(gw, response) -> set[str]:
    by_uid = {d.unique_id: level for level, d in gw.docs.items()}
    found = _uids(response)
    return {by_uid[u] for u in found if u in by_uid}


def _retrievable(gw, xds, level: str) -> bool:
    """ITI-43 of the document of ``level``: True when returned; a refusal must be answered exactly
    like an unknown document."""
    doc = gw.docs[level]
    rr, docs = xds.retrieve([(REPOSITORY_UID, doc.unique_id)])
    if docs:
        assert response_status(rr) == C.RESPONSE_SUCCESS and [d.read_bytes() for d in docs] == [doc.content]
        return True
    assert response_status(rr) == C.RESPONSE_FAILURE
    errors = registry_errors(rr)
    assert [e["errorCode"] for e in errors] == ["XDSDocumentUniqueIdError"]
    unknown, _ = xds.retrieve([(REPOSITORY_UID, "1.2.3.4.5.404")])
    assert [e["codeContext"].replace("1.2.3.4.5.404", "ID") for e in registry_errors(unknown)] == \
        [e["codeContext"].replace(doc.unique_id, "ID") for e in errors]
    return False


def _reads(gw, xds) -> tuple[set[str], set[str]]:
    """(levels ITI-18 lists, levels ITI-43 returns)."""
    listed = _levels(gw, xds.stored_query(_find(gw.pid)))
    return listed, {level for level in gw.docs if _retrievable(gw, xds, level)}


def test_a_professional_without_a_grant_finds_nothing_and_retrieves_like_unknown(env):
    with _xds(env, "HCP", "7601000000101") as xds:
        assert _reads(env, xds) == (set(), set())


def test_a_grant_lets_a_professional_read_up_to_its_level_and_secret_never(env):
    env.cli("policy", "grant", "--patient", SPID, "--gln", "7601000000102", "--level", "normal")
    with _xds(env, "HCP", "7601000000102") as xds:
        assert _reads(env, xds) == ({"normal"}, {"normal"})
    env.cli("policy", "grant", "--patient", SPID, "--gln", "7601000000103", "--level", "restricted")
    with _xds(env, "HCP", "7601000000103") as xds:
        assert _reads(env, xds) == ({"normal", "restricted"}, {"normal", "restricted"})
    # a revoked grant reads nothing again
    env.cli("policy", "revoke", "--patient", SPID, "--gln", "7601000000102")
    with _xds(env, "HCP", "7601000000102") as xds:
        assert _levels(env, xds.stored_query(_find(env.pid))) == set()


def test_an_excluded_professional_sees_nothing_even_in_emergency(env):
    gln = "7601000000104"
    env.cli("policy", "grant", "--patient", SPID, "--gln", gln, "--level", "restricted")
    env.cli("policy", "exclude", "--patient", SPID, "--gln", gln)
    for purpose in ("NORM", "EMER"):
        with _xds(env, "HCP", gln, purpose=purpose) as xds:
            assert _reads(env, xds) == (set(), set())
    listing = env.cli("notifications", "list", "--patient", SPID).stdout
    assert gln not in listing


def test_emergency_access_reads_the_emergency_level_and_notifies_the_patient(env):
    gln = "7601000000105"
    with _xds(env, "HCP", gln, purpose="EMER", name="Dr. Notfall") as xds:
        assert _levels(env, xds.stored_query(_find(env.pid))) == {"normal"}    # EPD_EMERGENCY_DEFAULT normal
        assert _retrievable(env, xds, "normal")
        assert not _retrievable(env, xds, "restricted")
    lines = [line for line in env.cli("notifications", "list", "--patient", SPID).stdout.splitlines()
             if gln in line]
    assert any("Dr. Notfall" in line and "ITI-43" in line and env.docs["normal"].unique_id in line
               for line in lines), lines
    assert all(env.docs["restricted"].unique_id not in line for line in lines)
    mails = [(rcpt, email.message_from_bytes(content)) for rcpt, content in env.mailbox.messages]
    mine = [(rcpt, msg) for rcpt, msg in mails if gln in msg.get_payload()]
    assert mine, mails
    assert all(rcpt == [EMAIL] and msg["From"] == "epr@community.example" for rcpt, msg in mine)
    assert any(env.docs["normal"].unique_id in msg.get_payload() for _rcpt, msg in mine)
    # a professional with a grant for normal documents reading them with EMER is no emergency access
    env.cli("policy", "grant", "--patient", SPID, "--gln", "7601000000106", "--level", "normal")
    with _xds(env, "HCP", "7601000000106", purpose="EMER") as xds:
        assert _retrievable(env, xds, "normal")
    assert "7601000000106" not in env.cli("notifications", "list", "--patient", SPID).stdout


def test_the_patient_reads_everything_the_policy_administrator_nothing(env):
    with _xds(env, "PAT", SPID) as xds:
        assert _reads(env, xds) == (set(env.docs), set(env.docs))
    with _xds(env, "PADM", "f94e868c-f849-490c-9886-77a2b65ab62f") as xds:
        assert _reads(env, xds) == (set(), set())


def test_a_technical_user_provides_but_never_reads(env):
    doc = DocumentSpec(b"uploaded by a technical user", mime_type="text/plain")
    with _xds(env, "TCU", "urn:oid:1.3.6.1.4.1.343", purpose="AUTO", principal_gln="7601000000107") as tcu:
        body, parts = provide_and_register_request(env.pid, [doc])
        rr = tcu.provide_and_register(body, parts)
        assert response_status(rr) == C.RESPONSE_SUCCESS, registry_errors(rr)
        assert _levels(env, tcu.stored_query(_find(env.pid))) == set()
        assert _uids(tcu.stored_query(_find(env.pid))) == set()
        assert not _retrievable(env, tcu, "normal")
        rr, docs = tcu.retrieve([(REPOSITORY_UID, doc.unique_id)])
        assert docs == [] and [e["errorCode"] for e in registry_errors(rr)] == ["XDSDocumentUniqueIdError"]
    with _xds(env, "PAT", SPID) as patient:                     # it was stored, for the patient to read
        assert doc.unique_id in _uids(patient.stored_query(_find(env.pid)))


def test_a_professional_without_rights_provides_and_the_default_confidentiality_raises_the_code(env):
    gln = "7601000000108"
    env.cli("policy", "default-confidentiality", "--patient", SPID, "--level", "restricted")
    try:
        doc = DocumentSpec(b"provided as normal", mime_type="text/plain")     # the provider says normal
        with _xds(env, "HCP", gln) as xds:
            body, parts = provide_and_register_request(env.pid, [doc])
            rr = xds.provide_and_register(body, parts)
            assert response_status(rr) == C.RESPONSE_SUCCESS, registry_errors(rr)
            assert doc.unique_id not in _uids(xds.stored_query(_find(env.pid)))   # providing gives no read right
            secret = DocumentSpec(b"a professional's secret", mime_type="text/plain", confidentiality_code=SECRET)
            body, parts = provide_and_register_request(env.pid, [secret])
            rr = xds.provide_and_register(body, parts)
            assert response_status(rr) == C.RESPONSE_FAILURE and registry_errors(rr)
        with _xds(env, "PAT", SPID) as patient:
            found = patient.stored_query(_find(env.pid))
            assert secret.unique_id not in _uids(found)          # refused: nothing stored
        entry = [eo for eo in found.iter("{%s}ExtrinsicObject" % C.NS_RIM)
                 if any(ei.get("value") == doc.unique_id for ei in eo.iter("{%s}ExternalIdentifier" % C.NS_RIM))]
        [eo] = entry
        codes = [c.get("nodeRepresentation") for c in eo.iter("{%s}Classification" % C.NS_RIM)
                 if c.get("classificationScheme") == C.DE_CONFIDENTIALITY_CODE]
        assert codes == [RESTRICTED[0]]
    finally:
        env.cli("policy", "default-confidentiality", "--patient", SPID, "--level", "normal")


def test_the_read_rate_limit_blocks_a_professional_and_unblock_lifts_it(env):
    gln = "7601000000109"
    env.cli("policy", "grant", "--patient", SPID, "--gln", gln, "--level", "normal")
    uid = env.docs["normal"].unique_id
    with _xds(env, "HCP", gln) as xds:
        rr, docs = xds.retrieve([(REPOSITORY_UID, uid)] * READ_LIMIT)       # up to the limit: read
        assert len(docs) == READ_LIMIT
        with pytest.raises(SoapFaultError) as info:                          # past it: blocked
            xds.retrieve([(REPOSITORY_UID, uid)])
        assert info.value.code == "Sender" and "read limit exceeded" in info.value.reason
        assert gln in info.value.reason and info.value.http_status == 400
        with pytest.raises(SoapFaultError):                                  # and stays blocked
            xds.retrieve([(REPOSITORY_UID, uid)])
        assert re.search(rf"^{gln}\s+blocked until ", env.cli("ratelimit", "list").stdout, flags=re.M)
        audit = [line for line in env.cli("audit", "list").stdout.splitlines()
                 if "ITI-43" in line and f"user={gln}" in line]
        assert len(audit) == 3 and sum("outcome=0 " in line for line in audit) == 1, audit
        assert env.cli("ratelimit", "unblock", "--user", gln).stdout.strip() == f"{gln} unblocked"
        assert _retrievable(env, xds, "normal")
    assert gln not in env.cli("ratelimit", "list").stdout


def _ppq(env, role, subject) -> SoapClient:
    return SoapClient(env.url("/ppq"), timeout=30, verify=env.verify, cert=env.cert,
                      assertion=make_assertion(env.signer, role=role, subject=subject, patient=SPID))


def test_ppq_add_and_query_over_the_wire_for_the_patient_refused_for_a_professional(env):
    gln = "7601000000110"
    assert any(line.startswith("CH:PPQ-1/PPQ-2") and line.rstrip().endswith(env.url("/ppq"))
               for line in env.output), list(env.output)[:12]
    ppq = _ppq(env, "PAT", SPID)
    resp = ppq.call(Q.ACTION_ADD, Q.ppq1_request("add", [M.hcp_access(SPID, gln, "normal")]))
    assert (resp.action, resp.body.get("status")) == (Q.ACTION_ADD + "Response", Q.STATUS_SUCCESS)
    resp = ppq.call(Q.ACTION_QUERY, Q.ppq2_request(SPID))
    assert resp.action == Q.ACTION_QUERY + "Response"
    sets = [X.parse_policy_set(e) for e in resp.body.iter(X.X + "PolicySet")]
    assert any(s.template == 301 and s.subject == gln for s in sets), sets
    with _xds(env, "HCP", gln) as xds:                    # the right added through PPQ is enforced
        assert _levels(env, xds.stored_query(_find(env.pid))) == {"normal"}
    for role, subject in (("HCP", gln), ("TCU", "urn:oid:1.3.6.1.4.1.343")):
        kw = {"purpose": "AUTO", "principal_gln": gln} if role == "TCU" else {}
        client = SoapClient(env.url("/ppq"), timeout=30, verify=env.verify, cert=env.cert,
                            assertion=make_assertion(env.signer, role=role, subject=subject, patient=SPID, **kw))
        with pytest.raises(SoapFaultError) as info:
            client.call(Q.ACTION_QUERY, Q.ppq2_request(SPID))
        assert info.value.code == "Sender" and info.value.http_status == 400
        with pytest.raises(SoapFaultError):
            client.call(Q.ACTION_ADD, Q.ppq1_request("add", [M.hcp_access(SPID, "7601000000111", "restricted")]))
    with _xds(env, "HCP", "7601000000111") as xds:       # the refused add left nothing
        assert _levels(env, xds.stored_query(_find(env.pid))) == set()


def test_ppq_without_an_assertion_is_a_ws_security_fault(env):
    from gateway.security import faults
    anonymous = SoapClient(env.url("/ppq"), timeout=30, verify=env.verify, cert=env.cert)
    with pytest.raises(SoapFaultError) as info:
        anonymous.call(Q.ACTION_QUERY, Q.ppq2_request(SPID))
    assert info.value.subcode == faults.SECURITY_TOKEN_UNAVAILABLE


def test_an_assistant_reads_with_its_principals_rights(env):
    hcp, ass = "7601000000112", "7601000000113"
    env.cli("policy", "grant", "--patient", SPID, "--gln", hcp, "--level", "normal")
    with _xds(env, "ASS", ass, principal_gln=hcp) as xds:
        assert _reads(env, xds) == ({"normal"}, {"normal"})
    with _xds(env, "ASS", ass, principal_gln="7601000000114") as xds:     # a principal without a grant
        assert _reads(env, xds) == (set(), set())


def test_a_representative_reads_everything_once_named(env):
    rep = "7602501e-425d-43e8-b4e8-eabd50869e95"
    with _xds(env, "REP", rep) as xds:
        assert _reads(env, xds) == (set(), set())
    env.cli("policy", "representative", "--patient", SPID, "--id", rep)
    with _xds(env, "REP", rep) as xds:
        assert _reads(env, xds) == (set(env.docs), set(env.docs))


def test_the_document_administrator_reads_every_level_and_no_policy(env):
    dadm = "f94e868c-f849-490c-9886-77a2b65ab62f"
    with _xds(env, "DADM", dadm) as xds:
        assert _reads(env, xds) == (set(env.docs), set(env.docs))
    with pytest.raises(SoapFaultError) as info:                 # CH:PPQ: PAT, REP and PADM only
        _ppq(env, "DADM", dadm).call(Q.ACTION_QUERY, Q.ppq2_request(SPID))
    assert info.value.code == "Sender" and info.value.http_status == 400
