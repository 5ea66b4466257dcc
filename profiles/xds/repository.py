"""Document Repository logic: Provide and Register (ITI-41) checks and Retrieve (ITI-43).

Transport-free. Document contents arrive as ``DocumentContent`` (size and digests already
computed while the transport streamed them); retrieval reads through ``RepositoryReader``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Protocol

from lxml import etree

from . import constants as C
from . import messages as M
from .ebrim import error_list
from .errors import (XDS_DOCUMENT_UNIQUE_ID_ERROR, XDS_REPOSITORY_ERROR, XDS_UNKNOWN_REPOSITORY_ID,
                     XDS_UNKNOWN_COMMUNITY, XdsError)
from .metadata import Submission


@dataclass(frozen=True)
class DocumentContent:
    """One document of an ITI-41 request as the transport delivered it."""
    document_id: str       # the xds:Document/@id (matches an ExtrinsicObject id)
    size: int
    sha1: str
    sha256: str
    handle: object         # whatever the gateway needs to store it (attachment, bytes...)


def check_documents(sub: Submission, contents: dict[str, DocumentContent], repository_unique_id: str,
                    unreferenced: Iterable[str] = ()) -> list[XdsError]:
    """Pair documents with their metadata, verify supplied hash/size, set hash/size/repositoryUniqueId.

    ITI TF-2b 3.41.4.1.3: an ExtrinsicObject without its document -> XDSMissingDocument; a
    document without metadata -> XDSMissingDocumentMetadata (so is a MIME part that no xds:Document
    refers to, Content-IDs in ``unreferenced``); a supplied hash or size that does not match the
    document -> XDSRepositoryMetadataError. On success each DocumentEntry of the model carries the
    repository's hash, size and repositoryUniqueId.
    """
    errors: list[XdsError] = [M.ATTACHMENT_WITHOUT_DOCUMENT(cid, cid=cid) for cid in unreferenced]
    by_id = {d.entry_uuid: d for d in sub.documents}
    for doc_id in contents:
        if doc_id not in by_id:
            errors.append(M.DOCUMENT_WITHOUT_METADATA(doc_id, id=doc_id))
    for d in sub.documents:
        content = contents.get(d.entry_uuid)
        if content is None:
            if d.object_type == C.DOC_ENTRY_ON_DEMAND:
                continue
            errors.append(M.METADATA_WITHOUT_DOCUMENT(d.entry_uuid, id=d.entry_uuid))
            continue
        if d.hash is not None and d.hash.lower() != content.sha1:
            errors.append(M.HASH_MISMATCH(d.entry_uuid, value=d.hash, id=d.entry_uuid, actual=content.sha1))
        if d.size is not None and d.size != str(content.size):
            errors.append(M.SIZE_MISMATCH(d.entry_uuid, value=d.size, id=d.entry_uuid, actual=content.size))
        if d.repository_unique_id is not None and d.repository_unique_id != repository_unique_id:
            errors.append(M.OTHER_REPOSITORY(d.entry_uuid, value=d.repository_unique_id, id=d.entry_uuid,
                                             repository=repository_unique_id))
        if errors:
            continue
        d.record_content(content.sha1, content.size, repository_unique_id)
    return errors


# ------------------------------------------------------------------ ITI-43

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


def parse_retrieve_request(body) -> tuple[list[DocumentRequest], list[XdsError]]:
    """Read an ``xds:RetrieveDocumentSetRequest``."""
    X = "{%s}" % C.NS_XDS
    errors: list[XdsError] = []
    if body is None or body.tag != X + "RetrieveDocumentSetRequest":
        return [], [XdsError(XDS_REPOSITORY_ERROR, "expected xds:RetrieveDocumentSetRequest")]
    requests = []
    for dr in body.findall(X + "DocumentRequest"):
        repo = (dr.findtext(X + "RepositoryUniqueId") or "").strip()
        uid = (dr.findtext(X + "DocumentUniqueId") or "").strip()
        hc = dr.findtext(X + "HomeCommunityId")
        if not repo or not uid:
            errors.append(XdsError(XDS_REPOSITORY_ERROR,
                                   "DocumentRequest needs RepositoryUniqueId and DocumentUniqueId", uid or repo))
            continue
        requests.append(DocumentRequest(repo, uid, hc.strip() if hc else None))
    if not requests and not errors:
        errors.append(XdsError(XDS_REPOSITORY_ERROR, "RetrieveDocumentSetRequest has no DocumentRequest"))
    return requests, errors


def retrieve(requests: list[DocumentRequest], reader: RepositoryReader, repository_unique_id: str,
             home_community_id: str | None = None) -> tuple[list[RetrievedDocument], list[XdsError]]:
    found: list[RetrievedDocument] = []
    errors: list[XdsError] = []
    for r in requests:
        if r.home_community_id and home_community_id and r.home_community_id != home_community_id:
            errors.append(XdsError(XDS_UNKNOWN_COMMUNITY, f"homeCommunityId {r.home_community_id} is not this "
                                   f"community ({home_community_id})", r.home_community_id))
            continue
        if r.repository_unique_id != repository_unique_id:
            errors.append(XdsError(XDS_UNKNOWN_REPOSITORY_ID, f"repositoryUniqueId {r.repository_unique_id} is not "
                                   f"this repository ({repository_unique_id})", r.repository_unique_id))
            continue
        hit = reader.find(r.repository_unique_id, r.document_unique_id)
        if hit is None:
            errors.append(XdsError(XDS_DOCUMENT_UNIQUE_ID_ERROR, f"document {r.document_unique_id} is not in "
                                   "this repository", r.document_unique_id))
            continue
        found.append(RetrievedDocument(r, hit[0], hit[1]))
    return found, errors


def retrieve_response(found: list[RetrievedDocument], errors: list[XdsError], content_ids: list[str]):
    """``xds:RetrieveDocumentSetResponse``: status Success / PartialSuccess / Failure, one
    DocumentResponse per found document with an ``xop:Include`` to ``content_ids[i]``."""
    if errors and found:
        status = C.RESPONSE_PARTIAL
    elif errors:
        status = C.RESPONSE_FAILURE
    else:
        status = C.RESPONSE_SUCCESS
    X = "{%s}" % C.NS_XDS
    resp = etree.Element(X + "RetrieveDocumentSetResponse", nsmap={"xds": C.NS_XDS, "rs": C.NS_RS})
    rr = etree.SubElement(resp, "{%s}RegistryResponse" % C.NS_RS, status=status)
    if errors:
        rr.append(error_list(errors))
    for doc, cid in zip(found, content_ids):
        dr = etree.SubElement(resp, X + "DocumentResponse")
        if doc.request.home_community_id:
            etree.SubElement(dr, X + "HomeCommunityId").text = doc.request.home_community_id
        etree.SubElement(dr, X + "RepositoryUniqueId").text = doc.request.repository_unique_id
        etree.SubElement(dr, X + "DocumentUniqueId").text = doc.request.document_unique_id
        etree.SubElement(dr, X + "mimeType").text = doc.mime_type
        d = etree.SubElement(dr, X + "Document")
        etree.SubElement(d, "{%s}Include" % C.NS_XOP, nsmap={"xop": C.NS_XOP}, href="cid:" + cid)
    return resp
