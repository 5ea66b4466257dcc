"""The ITI-43 use case (profiles.xds.retrieve.retrieve_document_set) on an in-memory repository."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from profiles.context import RequestContext
from profiles.outcome import FAILURE, PARTIAL_SUCCESS, SUCCESS
from profiles.xds import constants as C
from profiles.xds.errors import (XDS_DOCUMENT_UNIQUE_ID_ERROR, XDS_REPOSITORY_ERROR, XDS_UNKNOWN_COMMUNITY,
                                 XDS_UNKNOWN_REPOSITORY_ID)
from profiles.xds.retrieve import (RetrievePorts, RetrieveRequest, DocumentRequest, read_retrieve_request,
                                   retrieve_document_set)
from support.memory_xds import MemoryRepository

REPO = "1.2.3.4"
HOME = "urn:oid:1.2.3"
X = "{%s}" % C.NS_XDS


def repository() -> MemoryRepository:
    return MemoryRepository({(REPO, "1.1"): ("text/plain", "k1"), (REPO, "1.2"): ("application/pdf", "k2"),
                             (REPO, "1.3"): ("text/plain", "k3")})


class Policy:
    def __init__(self, flt):
        self.flt = flt

    def decide(self, ctx, request):
        from profiles.authorization import PERMIT
        return PERMIT

    def result_filter(self, ctx):
        return self.flt


class Hide:
    def __init__(self, *unique_ids):
        self.hidden = set(unique_ids)
        self.seen = []

    def readable_documents(self, ctx, documents):
        self.seen.append([d.request.document_unique_id for d in documents])
        return [d for d in documents if d.request.document_unique_id not in self.hidden]


def ports(policy=None) -> RetrievePorts:
    kw = {"policy": policy} if policy is not None else {}
    return RetrievePorts(repository(), REPO, HOME, **kw)


def request(*uids, repo=REPO, home=None) -> RetrieveRequest:
    return RetrieveRequest(tuple(DocumentRequest(repo, u, home) for u in uids))


def codes(outcome):
    return [p.code for p in outcome.problems]


def test_all_found_is_success_with_audit_facts():
    out = retrieve_document_set(RequestContext(), request("1.1", "1.2"), ports())
    assert out.status == SUCCESS and out.reply.status == C.RESPONSE_SUCCESS and out.problems == ()
    assert [(d.mime_type, d.handle) for d in out.reply.documents] == [("text/plain", "k1"), ("application/pdf", "k2")]
    facts = out.audit
    assert facts.transaction == "ITI-43" and facts.document_unique_ids == ("1.1", "1.2")
    assert facts.repository_unique_ids == (REPO,) and facts.home_community_ids == (HOME,)
    assert facts.entries_returned == 2 and facts.extra["returned_document_unique_ids"] == ("1.1", "1.2")


def test_some_missing_is_partial_success_none_found_is_failure():
    out = retrieve_document_set(RequestContext(), request("1.1", "9.9"), ports())
    assert out.status == PARTIAL_SUCCESS and out.reply.status == C.RESPONSE_PARTIAL
    assert codes(out) == [XDS_DOCUMENT_UNIQUE_ID_ERROR] and out.problems[0].location == "9.9"
    assert out.audit.document_unique_ids == ("1.1", "9.9") and out.audit.entries_returned == 1
    out = retrieve_document_set(RequestContext(), request("9.9"), ports())
    assert out.status == FAILURE and out.reply.status == C.RESPONSE_FAILURE and out.reply.documents == ()


def test_other_repository_and_other_community():
    out = retrieve_document_set(RequestContext(), request("1.1", repo="7.7"), ports())
    assert out.status == FAILURE and codes(out) == [XDS_UNKNOWN_REPOSITORY_ID]
    out = retrieve_document_set(RequestContext(), request("1.1", home="urn:oid:7.7"), ports())
    assert out.status == FAILURE and codes(out) == [XDS_UNKNOWN_COMMUNITY]
    assert out.audit.home_community_ids == ("urn:oid:7.7",)


def test_a_document_the_caller_may_not_read_is_answered_like_an_unknown_one():
    flt = Hide("1.2")
    hidden = retrieve_document_set(RequestContext(), request("1.1", "1.2", "1.3"), ports(Policy(flt)))
    assert flt.seen == [["1.1", "1.2", "1.3"]]   # the filter sees what the repository holds, in order
    assert hidden.status == PARTIAL_SUCCESS
    assert [d.request.document_unique_id for d in hidden.reply.documents] == ["1.1", "1.3"]
    unknown = retrieve_document_set(RequestContext(), request("1.1", "1.2", "1.3"),
                                    RetrievePorts(MemoryRepository({(REPO, "1.1"): ("text/plain", "k1"),
                                                                    (REPO, "1.3"): ("text/plain", "k3")}), REPO, HOME))
    assert hidden.reply.errors == unknown.reply.errors and hidden.problems == unknown.problems


def _body(n: int, *, broken: int = 0):
    body = etree.Element(X + "RetrieveDocumentSetRequest", nsmap={"xds": C.NS_XDS})
    for i in range(n):
        dr = etree.SubElement(body, X + "DocumentRequest")
        etree.SubElement(dr, X + "RepositoryUniqueId").text = REPO
        if i >= broken:
            etree.SubElement(dr, X + "DocumentUniqueId").text = f"1.{i + 1}"
    return body


def test_documents_per_retrieve_are_limited():
    # issue 14 item 2: past the limit the whole request is refused, naming the limit
    assert read_retrieve_request(_body(3), max_documents=3).errors == ()
    refused = read_retrieve_request(_body(4), max_documents=3)
    assert refused.documents == () and [e.code for e in refused.errors] == [XDS_REPOSITORY_ERROR]
    assert "max_retrieve_documents" in refused.errors[0].context and "3" in refused.errors[0].context
    out = retrieve_document_set(RequestContext(), refused, ports())
    assert out.status == FAILURE and out.reply.documents == () and codes(out) == [XDS_REPOSITORY_ERROR]


@given(n=st.integers(0, 12), limit=st.integers(1, 8), broken=st.integers(0, 3))
def test_retrieve_request_reading_property(n, limit, broken):
    """Every DocumentRequest is either read or reported; past the limit nothing is read."""
    got = read_retrieve_request(_body(n, broken=broken), max_documents=limit)
    if n > limit:
        assert got.documents == () and len(got.errors) == 1
    elif n == 0:
        assert got.documents == () and len(got.errors) == 1
    else:
        assert len(got.documents) + len(got.errors) == n
        assert len(got.errors) == min(broken, n)


def test_incomplete_document_request_does_not_stop_the_others():
    got = read_retrieve_request(_body(2, broken=1))
    out = retrieve_document_set(RequestContext(), got, ports())
    assert out.status == PARTIAL_SUCCESS and codes(out) == [XDS_REPOSITORY_ERROR]
    assert [d.request.document_unique_id for d in out.reply.documents] == ["1.2"]
