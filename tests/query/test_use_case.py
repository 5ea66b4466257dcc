"""The ITI-18 use case (profiles.xds.registry_query.stored_query) on in-memory ports: no database."""
from __future__ import annotations

from profiles.context import RequestContext
from profiles.outcome import FAILURE, SUCCESS
from profiles.xds import constants as C
from profiles.xds import query_catalogue as Q
from profiles.xds.errors import (XDS_REGISTRY_ERROR, XDS_RESULT_NOT_SINGLE_PATIENT, XDS_TOO_MANY_RESULTS,
                                 XDS_UNKNOWN_STORED_QUERY)
from profiles.xds.query_request import RefusedQuery, read_query_request
from profiles.xds.registry_query import RegistryQueryConfig, StoredQueryPorts, stored_query

from support.memory_xds import MemoryQueryStore, MemoryRegistry, assoc_row, doc_row, ss_row
from .registry_fixture import APPROVED, q, qlist, query_xml

MPI = "2.999.1.1"
HOME = "urn:oid:2.999.1"
P1, P2 = f"P1^^^&{MPI}&ISO", f"P2^^^&{MPI}&ISO"
N, R = ("N", "2.999.9"), ("R", "2.999.9")


def _world() -> MemoryRegistry:
    reg = MemoryRegistry()
    reg.documents_ = [doc_row("urn:uuid:d1", P1, seq=1, conf=[N], submission_set="urn:uuid:s1"),
                      doc_row("urn:uuid:d2", P1, seq=2, conf=[R], submission_set="urn:uuid:s1"),
                      doc_row("urn:uuid:d3", P2, seq=3, conf=[N], submission_set="urn:uuid:s2")]
    reg.submission_sets_ = [ss_row("urn:uuid:s1", P1, seq=1), ss_row("urn:uuid:s2", P2, seq=3)]
    reg.associations_ = [assoc_row("urn:uuid:a1", C.ASSOC_HAS_MEMBER, "urn:uuid:s1", "urn:uuid:d1", seq=1),
                         assoc_row("urn:uuid:a2", C.ASSOC_HAS_MEMBER, "urn:uuid:s1", "urn:uuid:d2", seq=2),
                         assoc_row("urn:uuid:a3", C.ASSOC_HAS_MEMBER, "urn:uuid:s2", "urn:uuid:d3", seq=3)]
    return reg


class FilterPolicy:
    def __init__(self, result_filter):
        self.flt = result_filter

    def decide(self, ctx, request):
        from profiles.authorization import PERMIT
        return PERMIT

    def result_filter(self, ctx):
        return self.flt


class OnlyNormal:
    """Hides documents with confidentiality R."""

    def allowed_documents(self, ctx, documents):
        return [d for d in documents if R not in d.confidentiality_codes]


def ports(store=None, *, max_results=100, policy=None) -> StoredQueryPorts:
    store = store or MemoryQueryStore(_world(), known={"P1", "P2"})
    kw = {"policy": policy} if policy is not None else {}
    return StoredQueryPorts(store, RegistryQueryConfig(MPI, HOME, max_results), **kw)


def run(query_id, slots, return_type="ObjectRef", p=None, ctx=None):
    request = read_query_request(query_xml(query_id, slots, return_type))
    return stored_query(ctx or RequestContext(), request, p or ports())


def ids(outcome):
    return outcome.reply.result.ids()


FIND_P1 = [("$XDSDocumentEntryPatientId", q(P1)), ("$XDSDocumentEntryStatus", APPROVED)]


def test_find_documents_success_with_audit_facts():
    out = run(Q.FIND_DOCUMENTS, FIND_P1)
    assert out.status == SUCCESS and out.problems == () and ids(out) == ["urn:uuid:d1", "urn:uuid:d2"]
    facts = out.audit
    assert facts.transaction == "ITI-18" and facts.query_id == Q.FIND_DOCUMENTS
    assert facts.patient_ids == (P1,) and facts.entries_returned == 2 and facts.home_community_ids == (HOME,)
    assert dict(facts.query_parameters) == {"$XDSDocumentEntryPatientId": (P1,),
                                            "$XDSDocumentEntryStatus": (C.STATUS_APPROVED,)}


def test_patient_of_another_authority_or_unknown_is_an_empty_success_without_reading():
    store = MemoryQueryStore(_world(), known={"P1"})
    out = run(Q.FIND_DOCUMENTS, [("$XDSDocumentEntryPatientId", q("P1^^^&1.9.9&ISO")),
                                 ("$XDSDocumentEntryStatus", APPROVED)], p=ports(store))
    assert out.status == SUCCESS and ids(out) == [] and store.sessions == 0
    out = run(Q.FIND_DOCUMENTS, [("$XDSDocumentEntryPatientId", q(P2)), ("$XDSDocumentEntryStatus", APPROVED)],
              p=ports(store))
    assert out.status == SUCCESS and ids(out) == [] and store.registry.calls == 0
    assert out.audit.patient_ids == (P2,) and out.audit.entries_returned == 0


def test_refused_request_is_a_failure_with_its_ihe_code():
    request = read_query_request(query_xml("urn:uuid:not-a-query", []))
    assert isinstance(request, RefusedQuery)
    out = stored_query(RequestContext(), request, ports())
    assert out.status == FAILURE and [p.code for p in out.problems] == [XDS_UNKNOWN_STORED_QUERY]
    assert out.reply.failed and out.audit.query_id == "urn:uuid:not-a-query" and out.audit.entries_returned == 0


def test_result_filter_of_the_policy_applies_inside_the_query():
    p = ports(policy=FilterPolicy(OnlyNormal()))
    assert ids(run(Q.FIND_DOCUMENTS, FIND_P1, p=p)) == ["urn:uuid:d1"]
    # a hidden document is not found by uuid either, nor are the associations pointing at it
    assert ids(run(Q.GET_DOCUMENTS, {"$XDSDocumentEntryEntryUUID": q("urn:uuid:d2")}, p=p)) == []
    out = run(Q.GET_ASSOCIATIONS, {"$uuid": q("urn:uuid:s1")}, p=p)
    assert ids(out) == ["urn:uuid:a1"]


def test_too_many_results_counts_what_the_caller_may_see():
    out = run(Q.FIND_DOCUMENTS, FIND_P1, p=ports(max_results=1))
    assert out.status == FAILURE and [p.code for p in out.problems] == [XDS_TOO_MANY_RESULTS]
    assert ids(run(Q.FIND_DOCUMENTS, FIND_P1, p=ports(max_results=1, policy=FilterPolicy(OnlyNormal())))) \
        == ["urn:uuid:d1"]


def test_leaf_class_of_several_patients_is_refused_object_ref_is_not():
    # issue 14 item 8 (NIST test 12368): GetDocuments and GetSubmissionSets
    two_docs = {"$XDSDocumentEntryEntryUUID": qlist(["urn:uuid:d1", "urn:uuid:d3"])}
    out = run(Q.GET_DOCUMENTS, two_docs, "LeafClass")
    assert out.status == FAILURE and [p.code for p in out.problems] == [XDS_RESULT_NOT_SINGLE_PATIENT]
    assert ids(out) == [] and out.reply.failed
    assert ids(run(Q.GET_DOCUMENTS, two_docs, "ObjectRef")) == ["urn:uuid:d1", "urn:uuid:d3"]
    one = run(Q.GET_DOCUMENTS, {"$XDSDocumentEntryEntryUUID": qlist(["urn:uuid:d1", "urn:uuid:d2"])}, "LeafClass")
    assert one.status == SUCCESS and one.audit.patient_ids == (P1,)
    two_sets = {"$uuid": qlist(["urn:uuid:d1", "urn:uuid:d3"])}
    out = run(Q.GET_SUBMISSION_SETS, two_sets, "LeafClass")
    assert out.status == FAILURE and [p.code for p in out.problems] == [XDS_RESULT_NOT_SINGLE_PATIENT]
    out = run(Q.GET_SUBMISSION_SETS, two_sets, "ObjectRef")
    assert out.status == SUCCESS and ids(out)[:2] == ["urn:uuid:s1", "urn:uuid:s2"]
    assert out.audit.patient_ids == (P1, P2)


def test_registry_failure_is_an_ihe_failure_naming_the_request_only():
    store = MemoryQueryStore(_world(), known={"P1"}, broken=True)
    ctx = RequestContext()
    out = run(Q.FIND_DOCUMENTS, FIND_P1, p=ports(store), ctx=ctx)
    assert out.status == FAILURE and [p.code for p in out.problems] == [XDS_REGISTRY_ERROR]
    assert ctx.request_id in out.problems[0].message and "secret" not in out.problems[0].message


def test_read_side_profiles_stay_transport_and_sql_free():
    """The use cases and every module they import load without gateway, Twisted, SQLAlchemy, zeep, psycopg."""
    import subprocess
    import sys
    code = ("import sys, profiles.xds.registry_query, profiles.xds.retrieve, profiles.xds.stored_queries\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'gateway', 'twisted', 'sqlalchemy', 'zeep', 'psycopg'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
