"""The application: settings -> engine, stores, ports, policies -> the resource tree.

``build_root`` runs in every worker process (engines are created after the process starts). Every
transaction of every endpoint runs through the one :class:`gateway.pipeline.Pipeline` built here:
the security seam (CH:XUA when configured), the transaction's authorization policy (the XUA patient
scope around the access rights), the use case with its ports bound here, exactly one audit event.
"""
from __future__ import annotations

import dataclasses

from twisted.web import resource

from gateway.config import Settings
from gateway.pipeline import Pipeline
from gateway.server import HealthResource
from gateway.store.blobs import BlobStore, DocumentBlobs
from gateway.store.db import make_engine
from gateway.store.registry import SqlRegistryStore
from profiles.xds import constants as C
from profiles.xds.provide_register import ProvideAndRegisterPorts
from profiles.xds.register import RegisterPorts
from profiles.xds.registry import RegistryPolicy


def load_valuesets(settings: Settings):
    from profiles.ch.valuesets import ValueSets
    return ValueSets.load(settings.valuesets_file or None)


def swiss_validator(settings: Settings, valuesets):
    from profiles.ch.annex3 import validate_submission as annex3

    def validate(sub):
        return annex3(sub, valuesets, allow_folders=settings.allow_folders)
    validate.__name__ = "annex3"
    return validate


def submission_patient_ids(request) -> list[str]:
    """The patient ids an ITI-41/42 request names (SubmissionSet, DocumentEntries, Folders)."""
    sub = request.submission
    return [o.patient_id for o in (sub.submission_set, *sub.documents, *sub.folders)
            if o is not None and o.patient_id]


def refuse_submission(ctx, request, decision):
    """A denied ITI-41/42: a RegistryResponse Failure with the decision's error, nothing stored."""
    from profiles.xds.errors import XDS_REGISTRY_ERROR, XdsError
    from profiles.xds.register import audit_facts, registry_outcome
    errors = [XdsError(decision.code or XDS_REGISTRY_ERROR, decision.reason or "not authorized")]
    return registry_outcome(errors, audit_facts(ctx.transaction, request.submission))


def request_submission(request):
    """The :class:`profiles.xds.metadata.Submission` of a parsed ITI-41/42 request
    (``ProvideAndRegisterRequest`` / ``SubmissionRequest``): the model the use case registers, so the
    provide policy's raised confidentialityCodes are what the registry stores."""
    return request.submission


def refuse_retrieve_rate_limited(refuse):
    """ITI-43's ``refuse``: past the read rate limit a Sender SOAP fault saying so (the pipeline
    audits it); any other denial as ``refuse`` answers it."""
    def run(ctx, request, decision):
        from gateway.access import RATE_LIMITED
        from gateway.soap.fault import SoapFault
        if decision.code == RATE_LIMITED:
            raise SoapFault("Sender", decision.reason or "read limit exceeded")
        return refuse(ctx, request, decision)
    return run


def hl7v3_ports(settings: Settings, mpi):
    """The PIX/PDQ use cases' ports, bound once: the MPI (also the PDQ continuation states, in the
    database so that any worker serves a continuation), our response wrapper, the input limits."""
    from gateway.endpoints.pix import hl7v3_limits, response_context
    from profiles.hl7v3.outcomes import Hl7v3Ports
    return Hl7v3Ports(mpi=mpi, responder=response_context(settings), states=mpi, limits=hl7v3_limits(settings))


class Gateway:
    """Everything a worker process holds: engine, stores, ports, transactions, the pipeline."""

    def __init__(self, settings: Settings):
        from gateway.endpoints.xds import XdsService
        from gateway.store.mpi import MpiStore
        self.settings = settings
        self.engine = make_engine(settings.effective_database_url)
        self.pipeline = self._pipeline()
        # durable first: ITI-41/42/44 store their Success's audit record inside their write transaction
        self.mpi = MpiStore(self.engine, settings.mpi_oid, audit=self.audit_sink)
        self.registry = SqlRegistryStore(self.engine, patients=self.mpi, audit=self.audit_sink)
        self.blobs = BlobStore(settings.blob_dir)
        self.valuesets = load_valuesets(settings)
        self.policy = RegistryPolicy(mpi_oid=settings.mpi_oid,
                                     extra_validators=(swiss_validator(settings, self.valuesets),))
        self.access = self._access_rights()
        # the ports of the XDS write use cases, bound once here
        self.provide_ports = ProvideAndRegisterPorts(self.registry,
                                                     DocumentBlobs(self.blobs, self.registry.referenced_blobs),
                                                     self.policy, settings.repository_unique_id)
        self.register_ports = RegisterPorts(self.registry, self.policy)
        self.xds = XdsService(settings, self.registry, self.blobs, self.provide_ports, self.register_ports)
        self.hl7v3 = hl7v3_ports(settings, self.mpi)
        self._wire_write_side()
        self._wire_read_side()

    def _pipeline(self) -> Pipeline:
        """One pipeline for every transaction: the XUA seam when configured, and the audit sink
        (every event stored, hash-chained, then forwarded to the Audit Record Repository)."""
        from gateway.audit.store import StoreAuditSink
        from gateway.security.setup import make_security
        self.security = make_security(self.settings)
        self.audit_store, self.forwarder = build_audit(self.settings, self.engine)
        self.audit_sink = None
        if self.audit_store is not None:
            self.audit_sink = StoreAuditSink(self.audit_store, self.forwarder.notify if self.forwarder else None)
        return Pipeline(security=self.security, audit=self.audit_sink)

    def _access_rights(self):
        """The patient's access rights (CH:ADR), enforced with XUA only: without a verified assertion
        there is no principal to decide on (``None``: the transactions keep ALLOW_ALL)."""
        from gateway.security.setup import xua_enabled
        if not xua_enabled(self.settings):
            return None
        from gateway.access import access_rights
        return access_rights(self.settings, self.engine, self.mpi)

    def _verify_bearer(self, assertion: bytes):
        """ITI-81's Authorization: Bearer assertion, verified as the SOAP seam verifies wsse:Security."""
        from dataclasses import replace
        claims = self.security.verifier.verify_assertion_bytes(assertion)
        return replace(claims.principal)

    def _wire_write_side(self) -> None:
        """ITI-41 and ITI-42: parse -> use case over the ports bound in __init__ -> render, with the
        CH:XUA patient scope as their authorization policy."""
        from gateway.endpoints.xds import iti41_transaction, iti42_transaction
        from profiles.authorization import ALLOW_ALL
        from profiles.xua.scope import SubmissionScope
        inner = ALLOW_ALL
        if self.access is not None:
            from gateway.access import ProvidePolicy
            inner = ProvidePolicy(self.access.rights, submission_of=request_submission)
        scope = SubmissionScope(self.mpi, submission_patient_ids, inner)
        self.iti41 = dataclasses.replace(iti41_transaction(self.settings, self.provide_ports), policy=scope,
                                         refuse=refuse_submission)
        self.iti42 = dataclasses.replace(iti42_transaction(self.settings, self.register_ports), policy=scope,
                                         refuse=refuse_submission)

    def _wire_read_side(self) -> None:
        """The ports of ITI-18 and ITI-43, built once per worker: the stored-query store (registry reads
        and the MPI check on one connection per query), the repository reader, and each transaction's
        authorization policy (its result filter applied inside the query and the retrieve)."""
        from gateway.endpoints.registry_query import stored_query_ports, stored_query_transaction
        from gateway.endpoints.retrieve import StoredDocuments, retrieve_ports, retrieve_transaction
        from gateway.store.registry_query import SqlQueryStore
        from profiles.authorization import ALLOW_ALL
        from profiles.xua.scope import QueryScope, RetrieveScope
        settings = self.settings
        self.query_store = SqlQueryStore(self.engine, self.mpi)
        documents = StoredDocuments(self.registry, self.blobs)
        ar = self.access
        read, fetch = (ALLOW_ALL, ALLOW_ALL) if ar is None else (ar.read, ar.retrieve)
        # the CH:XUA patient scope (the assertion's patient only) around each read's access rights
        self.stored_query_ports = stored_query_ports(settings, self.query_store, policy=QueryScope(self.mpi, read))
        self.retrieve_ports = retrieve_ports(settings, documents, policy=RetrieveScope(self.mpi, documents, fetch))
        self.stored_query = stored_query_transaction(settings, self.stored_query_ports)
        self.retrieve = retrieve_transaction(settings, self.retrieve_ports, self.blobs)
        if ar is not None:   # emergency reads recorded and notified; the read rate limit a SOAP fault
            self.stored_query = dataclasses.replace(self.stored_query,
                                                    use_case=ar.with_notices(self.stored_query.use_case))
            self.retrieve = dataclasses.replace(self.retrieve, use_case=ar.with_notices(self.retrieve.use_case),
                                                refuse=refuse_retrieve_rate_limited(self.retrieve.refuse))

    def health(self) -> dict:
        return {"annex3_valuesets": self.valuesets.version,
                "home_community_id": self.settings.home_community_id,
                "repository_unique_id": self.settings.repository_unique_id}

    def build_root(self) -> resource.Resource:
        from gateway.endpoints.pdq import build_pdq_endpoint
        from gateway.endpoints.pix import build_pix_endpoint
        from gateway.endpoints.xds import build_registry_endpoint, build_repository_endpoint
        from gateway.http.metrics import MetricsResource, process_metrics, stored_documents_collector
        spool = self.spool_dir
        root = resource.Resource()
        xds = resource.Resource()
        root.putChild(b"xds", xds)
        xds.putChild(b"repository", build_repository_endpoint(self.xds, {C.ACTION_ITI43: self.retrieve},
                                                              self.pipeline, iti41=self.iti41, spool_dir=spool))
        xds.putChild(b"registry", build_registry_endpoint(self.xds, {C.ACTION_ITI18: self.stored_query},
                                                          self.pipeline, iti42=self.iti42, spool_dir=spool))
        root.putChild(b"pix", build_pix_endpoint(self.settings, self.hl7v3, self.pipeline))
        root.putChild(b"pdq", build_pdq_endpoint(self.settings, self.hl7v3, self.pipeline))
        if self.access is not None:   # CH:PPQ: the patient's policies, for PAT, REP and PADM with XUA
            from gateway.endpoints.ppq import build_ppq_endpoint
            root.putChild(b"ppq", build_ppq_endpoint(self.settings, self.access.policies, self.access.rights,
                                                     self.pipeline))
        root.putChild(b"health", HealthResource(self.health))
        metrics = process_metrics()
        if metrics is not None:
            metrics.track_pool(self.engine.pool)
        root.putChild(b"metrics", MetricsResource(metrics, [stored_documents_collector(self.engine)]))
        if self.audit_store is not None:
            from gateway.endpoints.fhir_audit import AuditTrailResource
            fhir = resource.Resource()
            root.putChild(b"fhir", fhir)
            fhir.putChild(b"AuditEvent", AuditTrailResource(
                store=self.audit_store, mpi=self.mpi, pipeline=self.pipeline,
                observer_oid=self.settings.home_community_oid,
                authenticate=self._verify_bearer if self.security is not None else None))
        return root

    @property
    def spool_dir(self) -> str:
        """MTOM attachments are spooled next to the blob store, so documents are linked in, not copied."""
        return str(self.settings.blob_dir / "tmp")


def build_audit(settings: Settings, engine):
    """The audit store (``None`` when audit is off) and, with ``audit_syslog``, its forwarder."""
    if not settings.audit:
        return None, None
    import socket as _socket
    from pathlib import Path
    from gateway.audit.forwarder import Forwarder, ForwarderSettings
    from gateway.audit.store import AuditStore
    from gateway.audit.syslog import SyslogTarget, TlsFiles
    from profiles.atna.messages import AuditSite
    site = AuditSite(settings.home_community_oid, settings.audit_source_id or f"epd-gateway@{_socket.gethostname()}",
                     settings.home_community_id)
    store = AuditStore(engine, site)
    if not settings.audit_syslog:
        return store, None
    tls = TlsFiles(settings.audit_tls_ca or None, settings.audit_tls_cert or None, settings.audit_tls_key or None)
    forwarder = Forwarder(store, ForwarderSettings(SyslogTarget.parse(settings.audit_syslog), tls),
                          Path(settings.data_dir) / "audit-forward.lock")
    return store, forwarder.start()


def build_root(settings: Settings) -> resource.Resource:
    return Gateway(settings).build_root()
