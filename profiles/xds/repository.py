"""Document Repository logic: Provide and Register (ITI-41) checks and Retrieve (ITI-43).

Transport-free. Document contents arrive as ``DocumentContent`` (size and digests already
computed while the transport streamed them); retrieval reads through ``RepositoryReader``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from lxml import etree

from . import constants as C
from .ebrim import error_list, set_slot
from .errors import (XDS_DOCUMENT_UNIQUE_ID_ERROR, XDS_MISSING_DOCUMENT, XDS_MISSING_DOCUMENT_METADATA,
                     XDS_REPOSITORY_METADATA_ERROR, XDS_UNKNOWN_REPOSITORY_ID, XDS_UNKNOWN_COMMUNITY,
                     XdsError)
from .metadata import Submission


@dataclass(frozen=True)
class DocumentContent:
    """One document of an ITI-41 request as the transport delivered it."""
    document_id: str       # the xds:Document/@id (matches an ExtrinsicObject id)
    size: int
    sha1: str
    sha256: str
    handle: object         # whatever the gateway needs to store it (attachment, bytes...)


def check_documents(sub: Submission, contents: dict[str, DocumentContent], repository_unique_id: str) -> list[XdsError]:
    """Pair documents with their metadata, verify supplied hash/size, set hash/size/repositoryUniqueId.

    ITI TF-2b 3.41.4.1.3: an ExtrinsicObject without its document -> XDSMissingDocument; a
    document without metadata -> XDSMissingDocumentMetadata; a supplied hash or size that does not
    match the document -> XDSRepositoryMetadataError.
    """
    errors: list[XdsError] = []
    by_id = {d.entry_uuid: d for d in sub.documents}
    for doc_id in contents:
        if doc_id not in by_id:
            errors.append(XdsError(XDS_MISSING_DOCUMENT_METADATA,
                                   f"Document {doc_id} has no ExtrinsicObject (DocumentEntry) in the metadata", doc_id))
    for d in sub.documents:
        content = contents.get(d.entry_uuid)
        if content is None:
            if d.object_type == C.DOC_ENTRY_ON_DEMAND:
                continue
            errors.append(XdsError(XDS_MISSING_DOCUMENT,
                                   f"DocumentEntry {d.entry_uuid} has no Document in the request", d.entry_uuid))
            continue
        if d.hash is not None and d.hash.lower() != content.sha1:
            errors.append(XdsError(XDS_REPOSITORY_METADATA_ERROR,
                                   f"DocumentEntry.hash {d.hash} of {d.entry_uuid} does not match the document "
                                   f"(SHA-1 {content.sha1})", d.entry_uuid))
        if d.size is not None and d.size != str(content.size):
            errors.append(XdsError(XDS_REPOSITORY_METADATA_ERROR,
                                   f"DocumentEntry.size {d.size} of {d.entry_uuid} does not match the document "
                                   f"({content.size} bytes)", d.entry_uuid))
        if d.repository_unique_id is not None and d.repository_unique_id != repository_unique_id:
            errors.append(XdsError(XDS_REPOSITORY_METADATA_ERROR,
                                   f"DocumentEntry.repositoryUniqueId {d.repository_unique_id} of {d.entry_uuid} is "
                                   f"not this repository ({repository_unique_id})", d.entry_uuid))
        if errors:
            continue
        d.hash, d.size, d.repository_unique_id = content.sha1, str(content.size), repository_unique_id
        set_slot(d.element, "hash", [content.sha1])
        set_slot(d.element, "size", [str(content.size)])
        set_slot(d.element, "repositoryUniqueId", [repository_unique_id])
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
        return [], [XdsError("XDSRepositoryError", "expected xds:RetrieveDocumentSetRequest")]
    requests = []
    for dr in body.findall(X + "DocumentRequest"):
        repo = (dr.findtext(X + "RepositoryUniqueId") or "").strip()
        uid = (dr.findtext(X + "DocumentUniqueId") or "").strip()
        hc = dr.findtext(X + "HomeCommunityId")
        if not repo or not uid:
            errors.append(XdsError("XDSRepositoryError",
                                   "DocumentRequest needs RepositoryUniqueId and DocumentUniqueId", uid or repo))
            continue
        requests.append(DocumentRequest(repo, uid, hc.strip() if hc else None))
    if not requests and not errors:
        errors.append(XdsError("XDSRepositoryError", "RetrieveDocumentSetRequest has no DocumentRequest"))
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
