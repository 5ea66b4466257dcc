"""Document Repository logic: Provide and Register (ITI-41) checks; Retrieve (ITI-43) is in ``retrieve.py``.

Transport-free. Document contents arrive as ``DocumentContent`` (size and digests already
computed while the transport streamed them); retrieval reads through ``retrieve.RepositoryReader``.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import constants as C
from .ebrim import set_slot
from .errors import XDS_MISSING_DOCUMENT, XDS_MISSING_DOCUMENT_METADATA, XDS_REPOSITORY_METADATA_ERROR, XdsError
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
# The Retrieve Document Set logic lives in ``retrieve.py`` (the ITI-43 use case); its names stay
# importable from here.
from .retrieve import (DocumentRequest, RepositoryReader, RetrievedDocument, parse_retrieve_request,  # noqa: E402,F401
                       retrieve, retrieve_response)
