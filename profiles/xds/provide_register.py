"""ITI-41 Provide and Register Document Set-b, the use case:
(RequestContext, ProvideAndRegisterRequest, ProvideAndRegisterPorts) -> Outcome.

In the natural order, each step once:

1. parse (in the gateway: ebRIM -> model, each xds:Document's size and digests computed while the
   transport streamed it);
2. every check that needs no database: the IHE and national rules
   (:func:`~profiles.xds.registry.check_submission`), each document against its metadata (hash,
   size, repositoryUniqueId; :func:`~profiles.xds.repository.check_documents`);
   any error -> Failure, nothing written, **no blob**;
3. the blobs made durable (:class:`~profiles.xds.ports.DocumentBlobs`);
4. one short write transaction: the registry's checks (patient known, uniqueIds, association
   targets; :func:`~profiles.xds.registry.plan_checked`), the registry rows and the repository
   rows, then the audit record of the Success (:func:`~profiles.audit.record_with_change`);
   commit. A refusal rolls it back and removes the blobs this submission created (unless
   another submission refers to the same bytes).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from profiles.audit import record_with_change
from profiles.context import RequestContext
from profiles.outcome import Outcome

from .errors import XdsError, XdsFailure
from .ports import DocumentBlobs, Registry, RepositoryDocument
from .register import SubmissionRequest, audit_facts, checked, now_dtm, registry_outcome
from .registry import RegistryPolicy, plan_checked
from .repository import DocumentContent, check_documents

TRANSACTION = "ITI-41"


@dataclass
class ProvideAndRegisterRequest(SubmissionRequest):
    """The parsed ITI-41 request: the submission, its documents by xds:Document/@id, the Content-IDs
    of MIME parts no xds:Document refers to."""
    documents: dict[str, DocumentContent] = field(default_factory=dict)
    unreferenced_parts: list[str] = field(default_factory=list)


@dataclass
class ProvideAndRegisterPorts:
    registry: Registry
    blobs: DocumentBlobs
    policy: RegistryPolicy
    repository_unique_id: str
    now: Callable[[], str] = now_dtm


def provide_and_register(ctx: RequestContext, request: ProvideAndRegisterRequest,
                         ports: ProvideAndRegisterPorts) -> Outcome[list[XdsError]]:
    sub = request.submission
    facts = audit_facts(TRANSACTION, sub, repository_unique_ids=(ports.repository_unique_id,))
    # 2. everything that needs no database; the parse errors first, then the documents', then the rules'
    document_errors = check_documents(sub, request.documents, ports.repository_unique_id,
                                      request.unreferenced_parts)
    errors = checked(SubmissionRequest(sub, request.errors + document_errors), ports.policy, for_register=False)
    if errors:
        return registry_outcome(errors, facts)
    # 3. the blobs made durable
    created: list[str] = []
    try:
        by_id = {d.entry_uuid: d for d in sub.documents}
        records = []
        for doc_id, content in request.documents.items():
            key, created_now = ports.blobs.store(content)
            if created_now:
                created.append(key)
            d = by_id[doc_id]
            records.append(RepositoryDocument(ports.repository_unique_id, d.unique_id, content.sha1, key,
                                              content.size, d.mime_type))
        # 4. one short write transaction
        with ports.registry.transaction() as tx:
            plan = plan_checked(sub, tx, tx.patients, ports.policy, now=ports.now())
            tx.apply(plan)
            if plan.resubmitted_unique_ids:   # an identical resubmission: the repository holds it already
                stored = tx.repository_unique_ids_stored(ports.repository_unique_id, plan.resubmitted_unique_ids)
                records = [r for r in records if r.unique_id not in stored]
            tx.add_repository_documents(records)
            # durable first: the success record commits (or rolls back) with the submission
            outcome = record_with_change(tx, ctx, registry_outcome([], facts))
        created.clear()
        return outcome
    except XdsFailure as failure:
        return registry_outcome(failure.errors, facts)
    finally:
        if created:
            referenced = ports.registry.referenced_blobs(created)
            for key in created:
                if key not in referenced:
                    ports.blobs.delete(key)
