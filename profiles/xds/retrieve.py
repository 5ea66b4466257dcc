"""The ITI-43 Retrieve Document Set use case: ``retrieve_document_set(ctx, request, ports) -> Outcome``.

Transport-free. :func:`read_retrieve_request` reads an ``xds:RetrieveDocumentSetRequest`` into a
:class:`RetrieveRequest` (the DocumentRequests, and the errors of those that could not be read); the use
case looks each document up through the :class:`RepositoryReader`, hands what it found to the caller's
:class:`RetrieveFilter` (``ports.policy.result_filter(ctx)``), and answers

* Success: every document returned; PartialSuccess: some returned, errors for the others; Failure:
  none returned (ITI TF-2b 3.43.4.2.3);
* ``XDSUnknownCommunity`` / ``XDSUnknownRepositoryId`` for a request aimed elsewhere,
  ``XDSDocumentUniqueIdError`` for a document this repository does not hold **and for one the caller
  may not read**: the two answers are the same (same code, same text), so a refusal reveals nothing;
* ``XDSRepositoryError`` past ``max_documents`` DocumentRequests (nothing is returned).

The audit facts name every requested document uniqueId, repository and home community id, and (in
``extra["returned_document_unique_ids"]``) the ones returned.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

from lxml import etree

from profiles.authorization import ALLOW_ALL, AuthorizationPolicy, Decision
from profiles.context import RequestContext
from profiles.outcome import FAILURE, PARTIAL_SUCCESS, SUCCESS, AuditFacts, Outcome

from . import constants as C
from . import messages as M
from .messages import denied, problems
from .ebrim import error_list
from .errors import XdsError

TRANSACTION = "ITI-43"
#: the default of ``Settings.max_retrieve_documents``
DEFAULT_MAX_DOCUMENTS = 1000


@dataclass(frozen=True)
class DocumentRequest:
    repository_unique_id: str
    document_unique_id: str
    home_community_id: str | None = None


@dataclass(frozen=True)
class RetrievedDocument:
    request: DocumentRequest
    mime_type: str
    handle: object          # what the transport needs to send the bytes (a blob key, a path...)


class RepositoryReader(Protocol):
    def find(self, repository_unique_id: str, document_unique_id: str) -> tuple[str, object] | None:
        """(mimeType, handle) of a stored document, or None."""


class RetrieveFilter(Protocol):
    """The authorization seam of the retrieve path.

    ``readable_documents`` gets the documents the repository holds for this request and returns those
    the caller of ``ctx`` may read (a subsequence). Every document left out is answered exactly like an
    unknown one (``XDSDocumentUniqueIdError``, same text). A filter that decides on the metadata
    (patient, confidentiality code) reads it through its own registry port by document uniqueId.
    """

    def readable_documents(self, ctx: RequestContext,
                           documents: Sequence[RetrievedDocument]) -> Sequence[RetrievedDocument]: ...


class ReadAll:
    """The default RetrieveFilter: every stored document may be read."""

    def readable_documents(self, ctx: RequestContext,
                           documents: Sequence[RetrievedDocument]) -> Sequence[RetrievedDocument]:
        return documents


_READ_ALL = ReadAll()


@dataclass(frozen=True)
class RetrieveRequest:
    """A RetrieveDocumentSetRequest as read: the DocumentRequests, and the ``errors`` of the parts that
    could not be read (an incomplete DocumentRequest, an over-long request, a wrong body)."""

    documents: tuple[DocumentRequest, ...]
    errors: tuple[XdsError, ...] = ()


@dataclass(frozen=True)
class RetrievePorts:
    """What the ITI-43 use case runs on (wired once in ``gateway/app.py``)."""

    reader: RepositoryReader
    repository_unique_id: str
    home_community_id: str
    policy: AuthorizationPolicy = ALLOW_ALL


@dataclass(frozen=True)
class RetrieveReply:
    """The RetrieveDocumentSetResponse as a model: the documents returned, the errors, the ebRS status URN."""

    documents: tuple[RetrievedDocument, ...]
    errors: tuple[XdsError, ...]
    status: str


_X = "{%s}" % C.NS_XDS


def read_retrieve_request(body, *, max_documents: int = DEFAULT_MAX_DOCUMENTS) -> RetrieveRequest:
    """Read an ``xds:RetrieveDocumentSetRequest``; more than ``max_documents`` DocumentRequests refuse
    the whole request (``XDSRepositoryError`` naming the limit)."""
    if body is None or body.tag != _X + "RetrieveDocumentSetRequest":
        return RetrieveRequest((), (M.NOT_A_RETRIEVE_REQUEST.error(),))
    elements = body.findall(_X + "DocumentRequest")
    if len(elements) > max_documents:
        return RetrieveRequest((), (M.TOO_MANY_DOCUMENTS.error(count=len(elements), limit=max_documents),))
    requests: list[DocumentRequest] = []
    errors: list[XdsError] = []
    for dr in elements:
        repo = (dr.findtext(_X + "RepositoryUniqueId") or "").strip()
        uid = (dr.findtext(_X + "DocumentUniqueId") or "").strip()
        hc = dr.findtext(_X + "HomeCommunityId")
        if not repo or not uid:
            errors.append(M.INCOMPLETE_DOCUMENT_REQUEST.error(uid or repo))
            continue
        requests.append(DocumentRequest(repo, uid, hc.strip() if hc else None))
    if not requests and not errors:
        errors.append(M.NO_DOCUMENT_REQUEST.error())
    return RetrieveRequest(tuple(requests), tuple(errors))


def parse_retrieve_request(body, *, max_documents: int = DEFAULT_MAX_DOCUMENTS
                           ) -> tuple[list[DocumentRequest], list[XdsError]]:
    """:func:`read_retrieve_request` as (requests, errors)."""
    request = read_retrieve_request(body, max_documents=max_documents)
    return list(request.documents), list(request.errors)


def retrieve(requests: Sequence[DocumentRequest], reader: RepositoryReader, repository_unique_id: str,
             home_community_id: str | None = None, *, ctx: RequestContext | None = None,
             result_filter: RetrieveFilter | None = None) -> tuple[list[RetrievedDocument], list[XdsError]]:
    """The documents found for ``requests`` and the errors of the others, in request order; what the
    ``result_filter`` leaves out is reported exactly like a document this repository does not hold."""
    answers: list[RetrievedDocument | XdsError] = []
    for r in requests:
        if r.home_community_id and home_community_id and r.home_community_id != home_community_id:
            answers.append(M.UNKNOWN_COMMUNITY.error(r.home_community_id, requested=r.home_community_id,
                                                     home=home_community_id))
            continue
        if r.repository_unique_id != repository_unique_id:
            answers.append(M.UNKNOWN_REPOSITORY.error(r.repository_unique_id, requested=r.repository_unique_id,
                                                      repository=repository_unique_id))
            continue
        hit = reader.find(r.repository_unique_id, r.document_unique_id)
        answers.append(_unknown(r) if hit is None else RetrievedDocument(r, hit[0], hit[1]))
    found = [a for a in answers if isinstance(a, RetrievedDocument)]
    if found and result_filter is not None:
        readable = {id(d) for d in result_filter.readable_documents(ctx or RequestContext(), found)}
        answers = [_unknown(a.request) if isinstance(a, RetrievedDocument) and id(a) not in readable else a
                   for a in answers]
    return ([a for a in answers if isinstance(a, RetrievedDocument)],
            [a for a in answers if isinstance(a, XdsError)])


def _unknown(r: DocumentRequest) -> XdsError:
    return M.UNKNOWN_DOCUMENT.error(r.document_unique_id, unique_id=r.document_unique_id)


def response_status(found: Sequence[RetrievedDocument], errors: Sequence[XdsError]) -> str:
    """The ebRS status URN: Success, PartialSuccess (some documents and errors), Failure (no document)."""
    if errors and found:
        return C.RESPONSE_PARTIAL
    if errors:
        return C.RESPONSE_FAILURE
    return C.RESPONSE_SUCCESS


_OUTCOME = {C.RESPONSE_SUCCESS: SUCCESS, C.RESPONSE_PARTIAL: PARTIAL_SUCCESS, C.RESPONSE_FAILURE: FAILURE}


def retrieve_document_set(ctx: RequestContext, request: RetrieveRequest, ports: RetrievePorts
                          ) -> Outcome[RetrieveReply]:
    """Answer one Retrieve Document Set (see the module docstring)."""
    result_filter: RetrieveFilter = ports.policy.result_filter(ctx) or _READ_ALL
    found, errors = retrieve(request.documents, ports.reader, ports.repository_unique_id,
                             ports.home_community_id, ctx=ctx, result_filter=result_filter)
    all_errors = request.errors + tuple(errors)
    status = response_status(found, all_errors)
    reply = RetrieveReply(tuple(found), all_errors, status)
    requested = request.documents
    facts = AuditFacts(
        transaction=TRANSACTION,
        document_unique_ids=tuple(r.document_unique_id for r in requested),
        repository_unique_ids=tuple(dict.fromkeys(r.repository_unique_id for r in requested)),
        home_community_ids=tuple(dict.fromkeys(r.home_community_id or ports.home_community_id
                                               for r in requested)),
        entries_returned=len(found),
        extra={"returned_document_unique_ids": tuple(d.request.document_unique_id for d in found)})
    return Outcome(reply, _OUTCOME[status], problems(all_errors), facts)


def refuse_retrieve(ctx: RequestContext, request: RetrieveRequest, decision: Decision,
                    ports: RetrievePorts) -> Outcome[RetrieveReply]:
    """The answer to a retrieve the policy refused: a Failure RetrieveDocumentSetResponse, no document."""
    errors = (denied(M.RETRIEVE_NOT_AUTHORIZED, decision),)
    facts = AuditFacts(transaction=TRANSACTION,
                       document_unique_ids=tuple(r.document_unique_id for r in request.documents),
                       repository_unique_ids=tuple(dict.fromkeys(r.repository_unique_id for r in request.documents)),
                       entries_returned=0)
    return Outcome(RetrieveReply((), errors, C.RESPONSE_FAILURE), FAILURE, problems(errors), facts)


def retrieve_response(found: Sequence[RetrievedDocument], errors: Sequence[XdsError], content_ids: Sequence[str],
                      status: str | None = None):
    """``xds:RetrieveDocumentSetResponse``: status Success / PartialSuccess / Failure, one
    DocumentResponse per found document with an ``xop:Include`` to ``content_ids[i]``."""
    status = status or response_status(found, errors)
    resp = etree.Element(_X + "RetrieveDocumentSetResponse", nsmap={"xds": C.NS_XDS, "rs": C.NS_RS})
    rr = etree.SubElement(resp, "{%s}RegistryResponse" % C.NS_RS, status=status)
    if errors:
        rr.append(error_list(list(errors)))
    for doc, cid in zip(found, content_ids):
        dr = etree.SubElement(resp, _X + "DocumentResponse")
        if doc.request.home_community_id:
            etree.SubElement(dr, _X + "HomeCommunityId").text = doc.request.home_community_id
        etree.SubElement(dr, _X + "RepositoryUniqueId").text = doc.request.repository_unique_id
        etree.SubElement(dr, _X + "DocumentUniqueId").text = doc.request.document_unique_id
        etree.SubElement(dr, _X + "mimeType").text = doc.mime_type
        d = etree.SubElement(dr, _X + "Document")
        etree.SubElement(d, "{%s}Include" % C.NS_XOP, nsmap={"xop": C.NS_XOP}, href="cid:" + cid)
    return resp
