"""The application: settings -> engine, stores, profile policies -> the resource tree.

``build_root`` runs in every worker process (engines are created after the process starts).
"""
from __future__ import annotations

from functools import partial

from twisted.web import resource

from gateway.config import Settings
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


def hl7v3_ports(settings: Settings, mpi):
    """The PIX/PDQ use cases' ports, bound once: the MPI (also the PDQ continuation states, in the
    database so that any worker serves a continuation), our response wrapper, the input limits."""
    from gateway.endpoints.pix import hl7v3_limits, response_context
    from profiles.hl7v3.outcomes import Hl7v3Ports
    return Hl7v3Ports(mpi=mpi, responder=response_context(settings), states=mpi, limits=hl7v3_limits(settings))


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
        self.hl7v3 = hl7v3_ports(settings, self.mpi)

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
        root.putChild(b"pix", build_pix_endpoint(self.settings, self.hl7v3))
        root.putChild(b"pdq", build_pdq_endpoint(self.settings, self.hl7v3))
        root.putChild(b"health", HealthResource(self.health))
        return root


def build_root(settings: Settings) -> resource.Resource:
    gw = Gateway(settings)
    spool = settings.blob_dir / "tmp"
    root = gw.build_root()
    _set_spool(root, str(spool))
    return root


def _set_spool(res: resource.Resource, spool: str) -> None:
    """Spool MTOM attachments next to the blob store so documents are linked in, not copied."""
    from gateway.server import SoapEndpoint
    if isinstance(res, SoapEndpoint):
        res.spool_dir = spool
    for child in getattr(res, "children", {}).values():
        _set_spool(child, spool)
