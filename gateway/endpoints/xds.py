"""The XDS.b endpoints: Document Repository (ITI-41, ITI-43) and Document Registry (ITI-42, ITI-18).

The handlers carry the profile logic (profiles/xds) over the SOAP layer and the stores:
ITI-41: MTOM parts -> metadata model -> validation -> blobs made durable -> one database
transaction (registry rows + repository rows) -> RegistryResponse. If anything fails nothing of
the submission is visible and the blobs it created are swept.
"""
from __future__ import annotations

import hashlib
import io
import logging
import os
import time
from dataclasses import dataclass
from typing import Callable

from lxml import etree

from gateway.config import Settings
from gateway.resources import WSDL_DIR  # the IHE WSDLs and schemas, served at ?wsdl
from gateway.server import Operation, SoapEndpoint
from gateway.soap.attachments import Attachment, OutgoingAttachment
from gateway.soap.envelope import SoapReply, SoapRequest
from gateway.soap.fault import SoapFault
from gateway.store.blobs import BlobStore
from gateway.store.registry import SqlRegistryStore
from profiles.context import RequestContext
from profiles.xds import constants as C
from profiles.xds.ebrim import parse_submission, registry_response
from profiles.xds.errors import XDS_PATIENT_ID_DOES_NOT_MATCH, XDS_REPOSITORY_ERROR, XdsError, XdsFailure
from profiles.xds.registry import PatientIndex, RegistryPolicy, plan_registration
from profiles.xds.repository import (DocumentContent, check_documents, parse_retrieve_request, retrieve,
                                     retrieve_response)
from profiles.xds.validate import validate_submission

log = logging.getLogger("gateway.xds")


def now_dtm() -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime())


@dataclass
class XdsService:
    settings: Settings
    store: SqlRegistryStore
    blobs: BlobStore
    patients: PatientIndex
    policy: RegistryPolicy

    # ------------------------------------------------------------------ ITI-42
    def register(self, sor, ctx: RequestContext | None = None) -> list[XdsError]:
        """Register Document Set-b: returns the errors (empty: Success)."""
        sub, errors = parse_submission(sor)
        errors += _xua_patient_errors(sub, ctx, self.patients)
        if errors:
            return errors + _safe_validate(sub, self.policy, for_register=True)
        try:
            with self.store.transaction() as tx:
                plan = plan_registration(sub, tx, self._patients_on(tx), self.policy, for_register=True, now=now_dtm())
                tx.apply(plan)
        except XdsFailure as failure:
            return failure.errors
        return []

    # ------------------------------------------------------------------ ITI-41
    def provide_and_register(self, body, resolve: Callable[[etree._Element], "Attachment | bytes"],
                             ctx: RequestContext | None = None) -> list[XdsError]:
        if body.tag != "{%s}ProvideAndRegisterDocumentSetRequest" % C.NS_XDS:
            raise SoapFault("Sender", "ITI-41 expects xds:ProvideAndRegisterDocumentSetRequest in the Body")
        sor = body.find("{%s}SubmitObjectsRequest" % C.NS_LCM)
        sub, errors = parse_submission(sor)
        errors += _xua_patient_errors(sub, ctx, self.patients)
        contents: dict[str, DocumentContent] = {}
        for doc_el in body.findall("{%s}Document" % C.NS_XDS):
            doc_id = doc_el.get("id") or ""
            if doc_id in contents:
                errors.append(XdsError(XDS_REPOSITORY_ERROR, f"Document id {doc_id} occurs twice", doc_id))
                continue
            content = resolve(doc_el)
            if isinstance(content, bytes):
                contents[doc_id] = DocumentContent(doc_id, len(content), hashlib.sha1(content).hexdigest(),
                                                   hashlib.sha256(content).hexdigest(), content)
            else:
                contents[doc_id] = DocumentContent(doc_id, content.size, content.sha1, content.sha256, content)
        errors += check_documents(sub, contents, self.settings.repository_unique_id)
        if errors:
            return errors + _safe_validate(sub, self.policy, for_register=False)
        created: list[str] = []
        try:
            repo_rows = []
            by_id = {d.entry_uuid: d for d in sub.documents}
            for doc_id, content in contents.items():
                sha256, created_now = self._store_blob(content)
                if created_now:
                    created.append(sha256)
                d = by_id[doc_id]
                repo_rows.append(dict(repository_unique_id=self.settings.repository_unique_id, unique_id=d.unique_id,
                                      sha1=content.sha1, sha256=sha256, size=content.size, mime_type=d.mime_type))
            with self.store.transaction() as tx:
                plan = plan_registration(sub, tx, self._patients_on(tx), self.policy, for_register=True, now=now_dtm())
                tx.apply(plan)
                tx.add_repository_documents(repo_rows)
            created.clear()
            return []
        except XdsFailure as failure:
            return failure.errors
        finally:
            if created:
                self._sweep(created)

    def _patients_on(self, tx):
        """The patient check on the registry transaction's own connection when the MPI offers it."""
        bound = getattr(self.patients, "bound", None)
        return bound(tx.conn) if bound is not None else self.patients

    def _store_blob(self, content: DocumentContent) -> tuple[str, bool]:
        handle = content.handle
        if isinstance(handle, bytes):
            sha256, _sha1, _size, created = self.blobs.put(io.BytesIO(handle))
            return sha256, created
        att: Attachment = handle
        if att.spool_path is not None:
            return self.blobs.adopt(att.spool_path, att.sha256)
        with att.open() as fh:
            sha256, _sha1, _size, created = self.blobs.put(fh)
        return sha256, created

    def _sweep(self, keys: list[str]) -> None:
        referenced = self.store.referenced_blobs(keys)
        for key in keys:
            if key not in referenced:
                self.blobs.delete(key)

    # ------------------------------------------------------------------ ITI-43
    def retrieve(self, body, ctx: RequestContext | None = None) -> SoapReply:
        requests, errors = parse_retrieve_request(body)
        home = self.settings.home_community_id
        reader = self if ctx is None or not ctx.patient_epr_spid else _PatientScopedReader(self, ctx)
        found, more = retrieve(requests, reader, self.settings.repository_unique_id, home)
        errors += more
        attachments = []
        cids = []
        for i, doc in enumerate(found):
            cid = f"doc{i}-{os.urandom(6).hex()}@epd-gateway"
            cids.append(cid)
            attachments.append(OutgoingAttachment(cid, doc.mime_type, path=str(self.blobs.path(doc.handle))))
        return SoapReply(retrieve_response(found, errors, cids), C.ACTION_ITI43_RESPONSE, attachments, mtom=True)

    def find(self, repository_unique_id: str, document_unique_id: str):
        hit = self.store.repository_document(repository_unique_id, document_unique_id)
        if hit is None or not self.blobs.exists(hit.sha256):
            return None
        return hit.mime_type, hit.sha256


def _xua_patient_errors(sub, ctx: RequestContext | None, mpi) -> list[XdsError]:
    """CH:XUA: every patient id of the submission must be the assertion's patient (through the MPI)."""
    if sub is None or ctx is None or not ctx.patient_epr_spid:
        return []
    from profiles.xua.patient import all_patients_match
    pids = [o.patient_id for o in (sub.submission_set, *sub.documents, *sub.folders)
            if o is not None and o.patient_id]
    if all_patients_match(ctx.principal, pids, mpi):
        return []
    return [XdsError(XDS_PATIENT_ID_DOES_NOT_MATCH,
                     "the submission's patient is not the patient of the X-User Assertion", "")]


class _PatientScopedReader:
    """ITI-43 with CH:XUA: a document of another patient than the assertion's is answered exactly
    like an unknown one (XDSDocumentUniqueIdError)."""

    def __init__(self, service: "XdsService", ctx: RequestContext) -> None:
        self.service = service
        self.ctx = ctx

    def find(self, repository_unique_id: str, document_unique_id: str):
        from profiles.xua.patient import patient_matches
        from gateway.store.registry import RegistryTx
        with self.service.store.engine.connect() as conn:   # a read: no write lock
            entry = RegistryTx(conn).documents_by_unique_id([document_unique_id]).get(document_unique_id)
        if entry is None or not patient_matches(self.ctx.principal, entry.patient_id, self.service.patients):
            return None
        return self.service.find(repository_unique_id, document_unique_id)


def _safe_validate(sub, policy: RegistryPolicy, *, for_register: bool) -> list[XdsError]:
    """More errors for a submission already refused (so the submitter sees all of them at once)."""
    try:
        return validate_submission(sub, for_register=for_register, extra=policy.extra_validators)
    except Exception:  # a half-parsed submission may trip a validator: the first errors stand
        log.debug("validation of a refused submission failed", exc_info=True)
        return []


def _dedupe(errors: list[XdsError]) -> list[XdsError]:
    return list(dict.fromkeys(errors))


def build_repository_endpoint(service: XdsService) -> SoapEndpoint:
    def iti41(req: SoapRequest, ctx: RequestContext) -> SoapReply:
        errors = _dedupe(service.provide_and_register(req.body, req.resolve_include, ctx))
        return SoapReply(registry_response(errors), C.ACTION_ITI41_RESPONSE)

    def iti43(req: SoapRequest, ctx: RequestContext) -> SoapReply:
        return service.retrieve(req.body, ctx)

    return SoapEndpoint("xds-repository", {
        C.ACTION_ITI41: Operation(iti41, "ITI-41"),
        C.ACTION_ITI43: Operation(iti43, "ITI-43"),
    }, WSDL_DIR / "xds-repository.wsdl", service.settings)


def build_registry_endpoint(service: XdsService, extra_handlers: dict | None = None) -> SoapEndpoint:
    def iti42(req: SoapRequest, ctx: RequestContext) -> SoapReply:
        if req.body.tag != "{%s}SubmitObjectsRequest" % C.NS_LCM:
            raise SoapFault("Sender", "ITI-42 expects lcm:SubmitObjectsRequest in the Body")
        return SoapReply(registry_response(_dedupe(service.register(req.body, ctx))), C.ACTION_ITI42_RESPONSE)

    handlers = {C.ACTION_ITI42: Operation(iti42, "ITI-42")}
    handlers.update(extra_handlers or {})
    return SoapEndpoint("xds-registry", handlers, WSDL_DIR / "xds-registry.wsdl", service.settings)
