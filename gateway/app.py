"""The application: settings -> engine, stores, profile policies -> the resource tree.

``build_root`` runs in every worker process (engines are created after the process starts).
"""
from __future__ import annotations

from functools import partial

from twisted.web import resource

from gateway.audit.store import StoreAuditSink
from gateway.config import Settings
from gateway.pipeline import Pipeline
from gateway.server import HealthResource, Operation
from gateway.store.blobs import BlobStore
from gateway.store.db import make_engine
from gateway.store.registry import SqlRegistryStore
from profiles.xds import constants as C
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


class Gateway:
    """Everything a worker process holds: engine, stores, services."""

    def __init__(self, settings: Settings):
        from gateway.endpoints.xds import XdsService
        from gateway.store.mpi import MpiStore
        self.settings = settings
        self.engine = make_engine(settings.effective_database_url)
        self.mpi = MpiStore(self.engine, settings.mpi_oid)
        self.registry = SqlRegistryStore(self.engine)
        self.blobs = BlobStore(settings.blob_dir)
        self.valuesets = load_valuesets(settings)
        self.policy = RegistryPolicy(mpi_oid=settings.mpi_oid,
                                     extra_validators=(swiss_validator(settings, self.valuesets),))
        self.xds = XdsService(settings, self.registry, self.blobs, self.mpi, self.policy)
        self.audit_store, self.forwarder = build_audit(settings, self.engine)
        self.pipeline = Pipeline(audit=StoreAuditSink(self.audit_store, self.forwarder.notify if self.forwarder
                                                      else None) if self.audit_store else None)

    def health(self) -> dict:
        return {"annex3_valuesets": self.valuesets.version,
                "home_community_id": self.settings.home_community_id,
                "repository_unique_id": self.settings.repository_unique_id}

    def build_root(self) -> resource.Resource:
        from gateway.endpoints.pdq import build_pdq_endpoint
        from gateway.endpoints.pix import build_pix_endpoint
        from gateway.endpoints.registry_query import handle_stored_query
        from gateway.endpoints.xds import build_registry_endpoint, build_repository_endpoint
        root = resource.Resource()
        xds = resource.Resource()
        root.putChild(b"xds", xds)
        xds.putChild(b"repository", build_repository_endpoint(self.xds))
        stored_query = Operation(partial(handle_stored_query, settings=self.settings, engine=self.engine,
                                         mpi=self.mpi, result_filter=None), "ITI-18")
        xds.putChild(b"registry", build_registry_endpoint(self.xds, {C.ACTION_ITI18: stored_query}))
        root.putChild(b"pix", build_pix_endpoint(self.settings, self.mpi))
        root.putChild(b"pdq", build_pdq_endpoint(self.settings, self.mpi))
        root.putChild(b"health", HealthResource(self.health))
        if self.audit_store is not None:
            from gateway.endpoints.fhir_audit import AuditTrailResource
            fhir = resource.Resource()
            root.putChild(b"fhir", fhir)
            fhir.putChild(b"AuditEvent", AuditTrailResource(
                store=self.audit_store, mpi=self.mpi, pipeline=self.pipeline,
                observer_oid=self.settings.home_community_oid, authenticate=None))
        return root


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
    gw = Gateway(settings)
    spool = settings.blob_dir / "tmp"
    root = gw.build_root()
    _set_spool(root, str(spool), gw.pipeline)
    return root


def _set_spool(res: resource.Resource, spool: str, pipeline) -> None:
    """Spool MTOM attachments next to the blob store so documents are linked in, not copied; every
    endpoint runs its transactions through the application's one pipeline."""
    from gateway.server import SoapEndpoint
    if isinstance(res, SoapEndpoint):
        res.spool_dir = spool
        res.pipeline = pipeline
    for child in getattr(res, "children", {}).values():
        _set_spool(child, spool, pipeline)
