"""The application: settings -> engine, stores, profile policies -> the resource tree.

``build_root`` runs in every worker process (engines are created after the process starts).
"""
from __future__ import annotations

from twisted.web import resource

from gateway.config import Settings
from gateway.server import HealthResource
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
        self._wire_read_side()

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
        # the CH:XUA patient scope (the assertion's patient only) around each read's access rights
        self.stored_query_ports = stored_query_ports(settings, self.query_store, policy=QueryScope(self.mpi, ALLOW_ALL))
        self.retrieve_ports = retrieve_ports(settings, documents, policy=RetrieveScope(self.mpi, documents, ALLOW_ALL))
        self.stored_query = stored_query_transaction(settings, self.stored_query_ports)
        self.retrieve = retrieve_transaction(settings, self.retrieve_ports, self.blobs)

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
                                                              spool_dir=spool))
        xds.putChild(b"registry", build_registry_endpoint(self.xds, {C.ACTION_ITI18: self.stored_query},
                                                          spool_dir=spool))
        root.putChild(b"pix", build_pix_endpoint(self.settings, self.mpi))
        root.putChild(b"pdq", build_pdq_endpoint(self.settings, self.mpi))
        root.putChild(b"health", HealthResource(self.health))
        metrics = process_metrics()
        if metrics is not None:
            metrics.track_pool(self.engine.pool)
        root.putChild(b"metrics", MetricsResource(metrics, [stored_documents_collector(self.engine)]))
        return root

    @property
    def spool_dir(self) -> str:
        """MTOM attachments are spooled next to the blob store, so documents are linked in, not copied."""
        return str(self.settings.blob_dir / "tmp")


def build_root(settings: Settings) -> resource.Resource:
    root = Gateway(settings).build_root()
    from gateway.security.setup import install as install_security
    install_security(root, settings)   # XUA seam when EPD_XUA_TRUST / serve --demo (off by default)
    return root
