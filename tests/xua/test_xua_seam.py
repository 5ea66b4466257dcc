"""The XUA security seam in the pipeline (in-process): Transactions with SECURITY_XUA need a verified
assertion, the Principal reaches the use case and the audit event, faults go out as WS-Security
subcodes; SECURITY_TLS / SECURITY_NONE keep the TLS identity only."""
from __future__ import annotations

from lxml import etree

from gateway.pipeline import SECURITY_NONE, SECURITY_TLS, SECURITY_XUA, MemoryAuditSink, Pipeline, Transaction
from gateway.security import faults
from gateway.security.xua import XuaSecurity
from gateway.soap.envelope import SoapReply, check_must_understand, fault_envelope, read_fault
from profiles.context import Principal, RequestContext
from profiles.outcome import SUCCESS, Outcome
from support.xua import envelope_with, make_assertion, soap_request


def _tx(security: str, seen: list) -> Transaction:
    def use_case(ctx, model):
        seen.append(ctx)
        return Outcome(None, SUCCESS)
    return Transaction("ITI-18", lambda req: req.body.tag, use_case,
                       lambda o, r: SoapReply(etree.Element("{urn:t}ok"), "urn:t:ok"), security=security)


def _ctx(tls_subject=None):
    return RequestContext(principal=Principal(tls_subject=tls_subject) if tls_subject else Principal())


def test_xua_transaction_gets_the_principal_with_tls_subject(verifier, signer):
    seen: list = []
    sink = MemoryAuditSink()
    pipeline = Pipeline(security=XuaSecurity(verifier()), audit=sink)
    assertion = make_assertion(signer, role="ASS", subject="7601000000002", name="Dora Assistent",
                               principal_gln="7601000000019", principal_name="Dr. Anna Beispiel",
                               purpose="EMER")
    req = soap_request(envelope_with(assertion))
    result = pipeline.run(_tx(SECURITY_XUA, seen), req, _ctx("CN=his.example,O=Spital"))
    assert result.fault is None
    ctx = seen[0]
    p = ctx.principal
    assert (p.role, p.user_id, p.user_name, p.acting_id, p.acting_name, p.purpose_of_use) == \
        ("ASS", "7601000000019", "Dr. Anna Beispiel", "7601000000002", "Dora Assistent", "EMER")
    assert p.tls_subject == "CN=his.example,O=Spital"
    assert ctx.acting_for == "7601000000019" and ctx.patient_epr_spid == "761337610411353650"
    assert ctx.organisation_ids == ("2.16.756.5.30.1.999.7",)
    assert ctx.home_community_id == "urn:oid:2.16.756.5.30.1.999.1"
    assert [e.fault_code for e in sink.events] == [None]


def test_xua_transaction_without_assertion_is_a_wsse_fault_on_the_wire(verifier):
    seen: list = []
    sink = MemoryAuditSink()
    pipeline = Pipeline(security=XuaSecurity(verifier()), audit=sink)
    result = pipeline.run(_tx(SECURITY_XUA, seen), soap_request(envelope_with()), _ctx())
    assert seen == [] and result.reply is None
    assert result.fault.subcode == faults.SECURITY_TOKEN_UNAVAILABLE and result.fault.http_status == 400
    wire = read_fault(etree.fromstring(etree.tostring(fault_envelope(result.fault, None))))
    assert (wire.code, wire.subcode) == ("Sender", faults.SECURITY_TOKEN_UNAVAILABLE)
    assert [e.fault_code for e in sink.events] == ["Sender"]   # exactly one audit event


def test_tls_and_none_transactions_keep_the_tls_identity_only(verifier, signer):
    pipeline = Pipeline(security=XuaSecurity(verifier()))
    for security in (SECURITY_TLS, SECURITY_NONE):
        seen: list = []
        # an assertion, even a foreign one, is not read for a transaction not grouped with XUA
        req = soap_request(envelope_with(b"<saml2:Assertion xmlns:saml2='urn:oasis:names:tc:SAML:2.0:assertion'/>"))
        result = pipeline.run(_tx(security, seen), req, _ctx("CN=pix-client"))
        assert result.fault is None
        assert seen[0].principal == Principal(tls_subject="CN=pix-client")


def test_xua_seam_understands_wsse_must_understand():
    env = envelope_with()
    wsse = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
    sec = etree.SubElement(env[0], f"{{{wsse}}}Security")
    sec.set("{http://www.w3.org/2003/05/soap-envelope}mustUnderstand", "true")
    from gateway.soap.envelope import UNDERSTOOD_HEADER_NAMESPACES
    check_must_understand(env[0], UNDERSTOOD_HEADER_NAMESPACES | XuaSecurity.understood)
