"""Document Repository logic: Provide and Register (ITI-41) checks; Retrieve (ITI-43) is in ``retrieve.py``.

Transport-free. Document contents arrive as ``DocumentContent`` (size and digests already
computed while the transport streamed them); retrieval reads through ``retrieve.RepositoryReader``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from . import constants as C
from . import messages as M
from .errors import XdsError
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
# The Retrieve Document Set logic lives in ``retrieve.py`` (the ITI-43 use case); its names stay
# importable from here.
from .retrieve import (DocumentRequest, RepositoryReader, RetrievedDocument, parse_retrieve_request,  # noqa: E402,F401
                       retrieve, retrieve_response)
