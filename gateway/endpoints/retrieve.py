"""ITI-43 Retrieve Document Set on the repository endpoint (``POST /xds/repository``, wsa:Action
``urn:ihe:iti:2007:RetrieveDocumentSet``): a thin :class:`~gateway.pipeline.Transaction`.

parse: ``retrieve.read_retrieve_request`` -> use case ``profiles.xds.retrieve.retrieve_document_set``
(ports wired once in ``gateway/app.py``) -> render: the RetrieveDocumentSetResponse, each document an
MTOM attachment streamed from its blob file.
"""
from __future__ import annotations

import os

from gateway.config import Settings
from gateway.pipeline import SECURITY_XUA, Transaction
from gateway.soap.attachments import OutgoingAttachment
from gateway.soap.envelope import SoapReply, SoapRequest
from gateway.store.blobs import BlobStore
from gateway.store.registry import SqlRegistryStore
from profiles.authorization import ALLOW_ALL, AuthorizationPolicy
from profiles.context import RequestContext
from profiles.outcome import Outcome
from profiles.xds import constants as C
from profiles.xds.retrieve import (TRANSACTION, RetrievePorts, RetrieveReply, read_retrieve_request,
                                   refuse_retrieve, retrieve_document_set, retrieve_response)


class StoredDocuments:
    """``profiles.xds.retrieve.RepositoryReader`` over the repository rows and the blob store: a
    document is found when its row exists and its blob is on disk; the handle is the blob key."""

    def __init__(self, store: SqlRegistryStore, blobs: BlobStore) -> None:
        self.store = store
        self.blobs = blobs

    def patients_of(self, document_unique_ids):
        """document uniqueId -> the patient id (CX) of its registry entry (for the XUA patient scope)."""
        import sqlalchemy as sa
        from gateway.store.registry_tables import documents
        uids = list(document_unique_ids)
        if not uids:
            return {}
        q = sa.select(documents.c.unique_id, documents.c.patient_id).where(documents.c.unique_id.in_(uids))
        with self.store.engine.connect() as conn:   # a read: no write lock
            return {r.unique_id: r.patient_id for r in conn.execute(q)}

    def find(self, repository_unique_id: str, document_unique_id: str):
        hit = self.store.repository_document(repository_unique_id, document_unique_id)
        if hit is None or not self.blobs.exists(hit.sha256):
            return None
        return hit.mime_type, hit.sha256


def retrieve_ports(settings: Settings, reader: StoredDocuments,
                   policy: AuthorizationPolicy = ALLOW_ALL) -> RetrievePorts:
    return RetrievePorts(reader=reader, repository_unique_id=settings.repository_unique_id,
                         home_community_id=settings.home_community_id, policy=policy)


def retrieve_transaction(settings: Settings, ports: RetrievePorts, blobs: BlobStore) -> Transaction:
    """The ITI-43 transaction the repository endpoint registers for ``ACTION_ITI43``."""
    max_documents = settings.max_retrieve_documents

    def parse(request: SoapRequest):
        return read_retrieve_request(request.body, max_documents=max_documents)

    def use_case(ctx: RequestContext, request) -> Outcome[RetrieveReply]:
        return retrieve_document_set(ctx, request, ports)

    def render(outcome: Outcome[RetrieveReply], request: SoapRequest) -> SoapReply:
        reply = outcome.reply
        attachments = []
        cids = []
        for i, doc in enumerate(reply.documents):
            cid = f"doc{i}-{os.urandom(6).hex()}@epd-gateway"
            cids.append(cid)
            attachments.append(OutgoingAttachment(cid, doc.mime_type, path=str(blobs.path(doc.handle))))
        body = retrieve_response(reply.documents, reply.errors, cids, reply.status)
        return SoapReply(body, C.ACTION_ITI43_RESPONSE, attachments, mtom=True)

    def refuse(ctx: RequestContext, request, decision) -> Outcome[RetrieveReply]:
        return refuse_retrieve(ctx, request, decision, ports)

    return Transaction(TRANSACTION, parse, use_case, render, policy=ports.policy, refuse=refuse,
                       security=SECURITY_XUA)
