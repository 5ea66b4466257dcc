"""The wiring objects on real stores: ITI-41 provide decisions and the default confidentiality,
ITI-43 answers for documents the caller may not read, the read rate limit, emergency-access notices
sent to a real SMTP server."""
from __future__ import annotations

import base64
import datetime as _dt
import email

import pytest
from aiosmtpd.controller import Controller

from gateway.access import (EmergencyLog, ProvidePolicy, ReadFilter, RetrieveFilter, RetrievePolicy, RightsSource,
                            with_emergency_notices)
from gateway.clients.submission import DocumentSpec, provide_and_register_request
from gateway.config import Settings
from gateway.endpoints.xds import XdsService
from gateway.notify import MemoryNotifier, SmtpNotifier
from gateway.ratelimit import ReadLimiter
from gateway.store.blobs import BlobStore, DocumentBlobs
from gateway.store.db import make_engine
from gateway.store.mpi import MpiStore
from gateway.store.policies import PolicyStore
from gateway.store.registry import SqlRegistryStore
from gateway.store.registry_query import SqlRegistryQuery
from profiles.adr import model as M
from profiles.context import Principal, RequestContext
from profiles.hl7v3.mpi import Telecom
from profiles.outcome import SUCCESS, AuditFacts, Outcome
from profiles.xds import constants as C
from profiles.xds.ebrim import parse_submission
from profiles.xds.provide_register import ProvideAndRegisterPorts
from profiles.xds.register import RegisterPorts
from profiles.xds.registry import RegistryPolicy
from profiles.xds.repository import DocumentRequest, retrieve
from profiles.xds.stored_queries import Selector

MPI_OID = "2.16.756.5.30.1.999.1.1"
SPID = "761337610000000019"
GLN, OTHER_GLN = "7601000000019", "7601000000026"
TODAY = _dt.date(2026, 6, 15)
RESTRICTED = M.CONFIDENTIALITY_CODES["restricted"]
SECRET = M.CONFIDENTIALITY_CODES["secret"]


def ctx_of(role, user=GLN, purpose="NORM", **kw) -> RequestContext:
    return RequestContext(transaction="ITI-41", principal=Principal(
        user_id=user, user_name="Dr. Hans Muster", role=role, purpose_of_use=purpose, patient_epr_spid=SPID,
        organisation_ids=("urn:oid:2.999.1",), organisation_names=("Spital Bern",), **kw))


@pytest.fixture
def world(db_url, tmp_path):
    engine = make_engine(db_url)
    mpi = MpiStore(engine, MPI_OID)
    pid = str(mpi.add_patient(SPID, "Muster", "Anna", None, "F", telecoms=[Telecom("mailto:anna@example.ch")]))
    store = PolicyStore(engine)
    store.open_record(SPID)
    rights = RightsSource(store, mpi, MPI_OID, today=lambda: TODAY)
    settings = Settings(data_dir=str(tmp_path))
    registry, blobs = SqlRegistryStore(engine, patients=mpi), BlobStore(tmp_path / "blobs")
    policy = RegistryPolicy(mpi_oid=MPI_OID)
    xds = XdsService(settings, registry, blobs,
                     ProvideAndRegisterPorts(registry, DocumentBlobs(blobs, registry.referenced_blobs), policy,
                                             settings.repository_unique_id),
                     RegisterPorts(registry, policy))
    yield engine, store, mpi, rights, xds, pid
    engine.dispose()


def provide(xds, policy, ctx, pid, *specs):
    """Decide, then (if allowed) register through the repository, as the ITI-41 use case will."""
    from gateway.endpoints.xds import read_provide_and_register
    from profiles.xds.provide_register import provide_and_register
    body, _ = provide_and_register_request(pid, list(specs), inline=True)
    request = read_provide_and_register(body, lambda el: base64.b64decode(el.text or ""), max_objects=None)
    assert not request.errors
    sub = request.submission
    decision = policy.decide(ctx, sub)
    if decision.allowed:   # the use case registers the model as the decision left it
        assert provide_and_register(ctx, request, xds.provide_ports).reply == []
    return decision, sub


def stored_codes(engine, uid):
    rows = SqlRegistryQuery(engine).documents(Selector("unique_id", (uid,)))
    return [tuple(c) for c in rows[0].confidentiality_codes], rows[0].xml


def test_any_hcp_provides_without_read_rights_and_the_default_confidentiality_raises_the_code(world):
    engine, store, mpi, rights, xds, pid = world
    policy = ProvidePolicy(rights)
    d, _ = provide(xds, policy, ctx_of("HCP"), pid, DocumentSpec(b"a"))
    assert d.allowed                                                  # no grant needed to provide
    store.set_default_confidentiality(SPID, "restricted")
    spec = DocumentSpec(b"b")                                         # the provider says normal
    d, sub = provide(xds, policy, ctx_of("ASS", acting_id=OTHER_GLN), pid, spec)
    assert d.allowed and [(c.code, c.scheme) for c in sub.documents[0].confidentiality_codes] == [RESTRICTED]
    codes, xml = stored_codes(engine, spec.unique_id)
    assert codes == [RESTRICTED] and 'nodeRepresentation="263856008"' in xml and "17621005" not in xml
    # a technical user provides (203, purpose AUTO)
    assert provide(xds, policy, ctx_of("TCU", purpose="AUTO", acting_id="tcu-1"), pid, DocumentSpec(b"c"))[0].allowed
    # a professional cannot provide secret unless the patient's level is secret (109)
    d, _ = provide(xds, policy, ctx_of("HCP"), pid, DocumentSpec(b"d", confidentiality_code=SECRET))
    assert not d.allowed and d.code
    # an excluded professional provides nothing; in emergency mode nobody provides (203: NORM/AUTO)
    store.exclude(SPID, OTHER_GLN)
    assert not provide(xds, policy, ctx_of("HCP", user=OTHER_GLN), pid, DocumentSpec(b"e"))[0].allowed
    assert not provide(xds, policy, ctx_of("HCP", purpose="EMER"), pid, DocumentSpec(b"f"))[0].allowed
    # the patient's assertion about another patient is refused
    other = ctx_of("HCP").with_principal(Principal(user_id=GLN, role="HCP", purpose_of_use="NORM",
                                                   patient_epr_spid="761337610000000026"))
    assert not provide(xds, policy, other, pid, DocumentSpec(b"g"))[0].allowed
    # a patient the MPI does not know is left to the registry (XDSUnknownPatientId)
    body, _ = provide_and_register_request(f"999^^^&{MPI_OID}&ISO", [DocumentSpec(b"h")], inline=True)
    sub, _ = parse_submission(body.find("{%s}SubmitObjectsRequest" % C.NS_LCM))
    assert policy.decide(ctx_of("HCP"), sub).allowed


def test_iti43_answers_a_document_the_caller_may_not_read_like_an_unknown_one(world):
    engine, store, mpi, rights, xds, pid = world
    normal, restricted = DocumentSpec(b"n"), DocumentSpec(b"r", confidentiality_code=RESTRICTED)
    provide(xds, ProvidePolicy(rights), ctx_of("HCP"), pid, normal, restricted)
    store.grant(SPID, GLN, "normal")
    flt = RetrieveFilter(rights, engine)
    ctx = ctx_of("HCP")
    reqs = [DocumentRequest("2.16.756.5.30.1.999.1.2", u) for u in (normal.unique_id, restricted.unique_id, "1.2.3.4")]

    class Reader:
        def find(self, repo, uid):
            return ("application/pdf", uid) if uid in (normal.unique_id, restricted.unique_id) else None

    found, errors = retrieve(reqs, flt.reader(ctx, Reader(), [r.document_unique_id for r in reqs]),
                             "2.16.756.5.30.1.999.1.2")
    assert [f.request.document_unique_id for f in found] == [normal.unique_id]
    assert [(e.code, e.context.replace(e.location, "ID")) for e in errors] == \
        [("XDSDocumentUniqueIdError", "document ID is not in this repository")] * 2
    # the patient reads both
    pat = ctx_of("PAT", user=SPID)
    assert flt.allowed(pat, [normal.unique_id, restricted.unique_id]) == {normal.unique_id, restricted.unique_id}
    assert flt.allowed(ctx_of("PADM", user="padm-1"), [normal.unique_id]) == set()
    assert flt.allowed(ctx_of("DADM", user="dadm-1"), [restricted.unique_id]) == {restricted.unique_id}
    assert flt.allowed(RequestContext(), [normal.unique_id]) == set()          # anonymous


def test_the_read_rate_limit_blocks_a_professional_past_the_limit(world):
    engine, store, mpi, rights, xds, pid = world
    limiter = ReadLimiter(engine, 3, _dt.timedelta(hours=1), _dt.timedelta(minutes=30))
    policy = RetrievePolicy(rights, engine, limiter)
    reqs = [DocumentRequest("r", "1"), DocumentRequest("r", "2")]
    assert policy.decide(ctx_of("HCP"), reqs).allowed                  # 2 of 3
    d = policy.decide(ctx_of("ASS", user=GLN, acting_id=OTHER_GLN), reqs)
    assert d.allowed                                                   # the assistant counts on its own
    d = policy.decide(ctx_of("HCP"), reqs)                             # 4 > 3: refused, blocked
    assert not d.allowed and "read limit exceeded" in d.reason and "blocked until" in d.reason
    assert not policy.decide(ctx_of("HCP"), [DocumentRequest("r", "1")]).allowed   # still blocked
    assert policy.decide(ctx_of("PAT", user=SPID), reqs * 5).allowed    # the patient is not limited
    later = _dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(minutes=31)
    assert limiter.charge(GLN, 1, now=later).allowed                    # the block ended: a new window


class _Collect:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_server():
    import socket
    with socket.socket() as probe:          # a free port (aiosmtpd checks its own with a connection)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = _Collect()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield controller, handler
    finally:
        controller.stop()


def test_emergency_reads_are_recorded_and_mailed_to_the_patient(world, smtp_server):
    engine, store, mpi, rights, xds, pid = world
    controller, handler = smtp_server
    normal, restricted = DocumentSpec(b"n"), DocumentSpec(b"r", confidentiality_code=RESTRICTED)
    provide(xds, ProvidePolicy(rights), ctx_of("HCP"), pid, normal, restricted)
    log = EmergencyLog()
    flt = RetrieveFilter(rights, engine, log)
    smtp = SmtpNotifier(f"smtp://127.0.0.1:{controller.port}", "epr@community.example")

    def use_case(ctx, request):
        allowed = sorted(flt.allowed(ctx, request))
        return Outcome(allowed, SUCCESS, audit=AuditFacts(transaction="ITI-43", document_unique_ids=tuple(allowed)))

    run = with_emergency_notices(use_case, log, store, smtp, mpi.email_of)
    ids = [normal.unique_id, restricted.unique_id]
    # NORM without a grant: nothing read, nothing recorded
    assert run(ctx_of("HCP").for_transaction("ITI-43"), ids).reply == []
    assert store.notifications(SPID) == []
    # EMER: the emergency level (normal by default) is read, recorded and mailed
    emer = ctx_of("HCP", purpose="EMER").for_transaction("ITI-43")
    assert run(emer, ids).reply == [normal.unique_id]
    [n] = store.notifications(SPID)
    assert (n.transaction, n.user_id, n.user_name, n.organisation, n.documents) == \
        ("ITI-43", GLN, "Dr. Hans Muster", "Spital Bern", (normal.unique_id,))
    assert n.delivered_at is not None and n.delivery_error is None
    [(rcpt, content)] = handler.messages
    msg = email.message_from_bytes(content)
    assert rcpt == ["anna@example.ch"] and msg["From"] == "epr@community.example"
    assert GLN in msg.get_payload() and normal.unique_id in msg.get_payload()
    # with a grant for normal documents, reading them in emergency mode is no emergency access
    store.grant(SPID, GLN, "normal")
    store.set_emergency(SPID, "restricted")
    assert run(emer, ids).reply == sorted(ids)
    assert store.notifications(SPID)[-1].documents == (restricted.unique_id,)
    # the exclusion list beats the emergency
    store.exclude(SPID, GLN)
    assert run(emer, ids).reply == []
    assert len(store.notifications(SPID)) == 2


def test_an_undeliverable_notice_is_still_recorded(world):
    engine, store, mpi, rights, xds, pid = world
    normal = DocumentSpec(b"n")
    provide(xds, ProvidePolicy(rights), ctx_of("HCP"), pid, normal)
    log = EmergencyLog()
    flt = ReadFilter(rights, log)
    dead = SmtpNotifier("smtp://127.0.0.1:9", "epr@community.example", timeout=2)
    rows = SqlRegistryQuery(engine).documents(Selector("unique_id", (normal.unique_id,)))

    def use_case(ctx, request):
        kept = flt.allowed_documents(ctx, rows)
        return Outcome(kept, SUCCESS, audit=AuditFacts(document_unique_ids=tuple(d.unique_id for d in kept)))

    out = with_emergency_notices(use_case, log, store, dead, mpi.email_of)(
        ctx_of("HCP", purpose="EMER").for_transaction("ITI-18"), None)
    assert [d.unique_id for d in out.reply] == [normal.unique_id]
    [n] = store.notifications(SPID)
    assert n.delivered_at is None and n.delivery_error
    memory = MemoryNotifier()
    with_emergency_notices(use_case, log, store, memory, lambda spid: None)(
        ctx_of("HCP", purpose="EMER").for_transaction("ITI-18"), None)
    assert memory.sent and memory.sent[0][1] is None


FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"


def find_documents(pid: str, return_type: str):
    from lxml import etree
    req = etree.Element(f"{{{C.NS_QUERY}}}AdhocQueryRequest", nsmap={"query": C.NS_QUERY, "rim": C.NS_RIM})
    etree.SubElement(req, f"{{{C.NS_QUERY}}}ResponseOption", returnType=return_type, returnComposedObjects="true")
    aq = etree.SubElement(req, C.rim("AdhocQuery"), id=FIND_DOCUMENTS)
    for name, value in (("$XDSDocumentEntryPatientId", f"'{pid}'"),
                        ("$XDSDocumentEntryStatus", "('urn:oasis:names:tc:ebxml-regrep:StatusType:Approved')")):
        slot = etree.SubElement(aq, C.rim("Slot"), name=name)
        etree.SubElement(etree.SubElement(slot, C.rim("ValueList")), C.rim("Value")).text = value
    return req


def test_iti18_leaves_out_what_the_caller_may_not_read_in_leafclass_and_objectref_answers(world):
    from lxml import etree
    from query.registry_fixture import stored_query_body
    engine, store, mpi, rights, xds, pid = world
    docs = {lvl: DocumentSpec(lvl.encode(), confidentiality_code=M.CONFIDENTIALITY_CODES[lvl]) for lvl in M.LEVELS}
    provide(xds, ProvidePolicy(rights), ctx_of("PAT", user=SPID), pid, *docs.values())   # the patient files all three
    store.grant(SPID, GLN, "normal")
    store.set_emergency(SPID, "restricted")
    settings = Settings(mpi_oid=MPI_OID)
    log = EmergencyLog()
    flt = ReadFilter(rights, log)

    def ask(ctx, return_type):
        body = stored_query_body(find_documents(pid, return_type), ctx, settings=settings, engine=engine, mpi=mpi,
                                 result_filter=flt)
        el = body                                  # raw=False: always an element
        assert el.get("status").endswith("Success")
        if return_type == "ObjectRef":
            return {o.get("id") for o in el.iter(C.rim("ObjectRef"))}
        return {e.get("value") for e in el.iter(C.rim("ExternalIdentifier"))
                if e.get("identificationScheme") == C.DE_UNIQUE_ID}

    rows = {r.unique_id: r.entry_uuid for r in SqlRegistryQuery(engine).documents(
        Selector("unique_id", tuple(d.unique_id for d in docs.values())))}
    uid = {lvl: d.unique_id for lvl, d in docs.items()}
    hcp = ctx_of("HCP")
    assert ask(hcp, "LeafClass") == {uid["normal"]}
    assert ask(hcp, "ObjectRef") == {rows[uid["normal"]]}
    assert ask(ctx_of("PAT", user=SPID), "LeafClass") == set(uid.values())
    assert ask(ctx_of("HCP", purpose="EMER", user=OTHER_GLN), "LeafClass") == {uid["normal"], uid["restricted"]}
    assert ask(ctx_of("TCU", purpose="AUTO", acting_id="tcu-1"), "LeafClass") == set()
    assert ask(ctx_of("PADM", user="padm-1"), "ObjectRef") == set()
    assert ask(ctx_of("DADM", user="dadm-1"), "LeafClass") == set(uid.values())
    assert ask(RequestContext(), "LeafClass") == set()


def test_access_rights_are_built_from_the_settings(world):
    from gateway.access import access_rights
    from gateway.notify import SmtpNotifier
    engine, store, mpi, rights, xds, pid = world
    settings = Settings(mpi_oid=MPI_OID, emergency_default="off", read_limit="2/1h", read_block="30m",
                        notify_smtp="smtp://127.0.0.1:2525", notify_from="epr@community.example")
    ar = access_rights(settings, engine, mpi)
    assert ar.policies.emergency_default == "off"
    assert (ar.limiter.limit, ar.limiter.window, ar.limiter.block) == \
        (2, _dt.timedelta(hours=1), _dt.timedelta(minutes=30))
    assert isinstance(ar.notifier, SmtpNotifier) and (ar.notifier.host, ar.notifier.port) == ("127.0.0.1", 2525)
    assert ar.email_of(SPID) == "anna@example.ch"
    assert not ar.retrieve.decide(ctx_of("HCP"), [DocumentRequest("r", str(i)) for i in range(3)]).allowed
    none = access_rights(Settings(mpi_oid=MPI_OID), engine, mpi)
    assert none.limiter is None and none.notifier is None
    assert none.retrieve.decide(ctx_of("HCP"), [DocumentRequest("r", str(i)) for i in range(99)]).allowed
    with pytest.raises(ValueError):
        access_rights(Settings(mpi_oid=MPI_OID, read_limit="lots"), engine, mpi)
    with pytest.raises(ValueError):
        access_rights(Settings(mpi_oid=MPI_OID, emergency_default="always"), engine, mpi)


def test_a_failed_query_records_no_emergency_access(world):
    """An ITI-18 that fails (XDSTooManyResults...) returns no entry: the emergency reads its filter
    noted are dropped, not recorded for the patient."""
    from profiles.outcome import FAILURE
    engine, store, mpi, rights, xds, pid = world
    log = EmergencyLog()
    ctx = ctx_of("HCP", purpose="EMER").for_transaction("ITI-18")

    def use_case(c, request):
        log.note(c.request_id, SPID, "1.2.3.4")
        return Outcome([], FAILURE, audit=AuditFacts(transaction="ITI-18"))

    run = with_emergency_notices(use_case, log, store, MemoryNotifier(), mpi.email_of)
    run(ctx, None)
    assert store.notifications(SPID) == [] and log.take(ctx.request_id) == []

    def succeeding(c, request):
        log.note(c.request_id, SPID, "1.2.3.4")
        return Outcome([], SUCCESS, audit=AuditFacts(transaction="ITI-18"))

    with_emergency_notices(succeeding, log, store, MemoryNotifier(), mpi.email_of)(ctx, None)
    assert [n.documents for n in store.notifications(SPID)] == [("1.2.3.4",)]
