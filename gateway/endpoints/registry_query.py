"""ITI-18 Registry Stored Query on the registry endpoint (``POST /xds/registry``, wsa:Action
``urn:ihe:iti:2007:RegistryStoredQuery``).

``handle_stored_query`` is the handler the registry endpoint registers for ``ACTION_ITI18``:
AdhocQueryRequest -> ``stored_queries.parse_query_request`` -> patient check against the MPI (a
patient unknown to the MPI, or of another assigning authority, is an empty Success) ->
``stored_queries.run_query`` over ``SqlRegistryQuery`` with the caller's ``ResultFilter`` ->
``query_response``. Every IHE error is an AdhocQueryResponse with status Failure, never a SOAP fault.
"""
from __future__ import annotations

import logging
from typing import Protocol

from sqlalchemy.engine import Engine

from gateway.config import Settings
from gateway.soap.envelope import RawXml, SoapReply, SoapRequest
from gateway.store.registry_query import SqlRegistryQuery
from profiles.context import RequestContext
from profiles.xds.constants import ACTION_ITI18_RESPONSE
from profiles.xds.errors import XDS_REGISTRY_ERROR, XdsError, XdsFailure
from profiles.xds.query_ports import AllowAll, QueryResult, ResultFilter
from profiles.xds.query_response import failure_response, leaf_class_text, query_response
from profiles.xds.stored_queries import parse_query_request, run_query
from profiles.xua.patient import PatientScopedFilter, patient_matches

log = logging.getLogger(__name__)


class PatientDirectory(Protocol):
    def is_known_mpi_pid(self, pid: str) -> bool: ...


_PORTS: dict[int, SqlRegistryQuery] = {}


def _port(engine: Engine) -> SqlRegistryQuery:
    port = _PORTS.get(id(engine))
    if port is None or port.engine is not engine:
        port = _PORTS[id(engine)] = SqlRegistryQuery(engine)
    return port


def _known(mpi: PatientDirectory, pid: str, conn) -> bool:
    """The MPI check on the query's own connection when the MPI offers it."""
    bound = getattr(mpi, "bound", None)
    return bound(conn).is_known_mpi_pid(pid) if bound is not None else mpi.is_known_mpi_pid(pid)


def stored_query_body(body, ctx: RequestContext, *, settings: Settings, engine: Engine,
                      mpi: PatientDirectory, result_filter: ResultFilter | None = None, raw: bool = False):
    """The AdhocQueryResponse for the AdhocQueryRequest ``body`` (transport-free core): an element,
    or with ``raw`` a LeafClass Success answer as ``RawXml`` text built from the stored metadata."""
    try:
        request = parse_query_request(body)
        patient = request.patient
        if patient is not None and patient.oid != settings.mpi_oid:
            return query_response(QueryResult(), request.return_type, settings.home_community_id)
        if patient is not None and not patient_matches(ctx.principal, patient.id, mpi):
            # CH:XUA: the assertion's EPR-SPID is another patient: answered like an unknown patient
            return query_response(QueryResult(), request.return_type, settings.home_community_id)
        if ctx.patient_epr_spid:                    # CH:XUA: only the assertion's patient's entries
            result_filter = PatientScopedFilter(mpi, result_filter)
        with _port(engine).session() as port:       # one read connection for all statements of the query
            if patient is not None and not _known(mpi, patient.id, port.connection):
                return query_response(QueryResult(), request.return_type, settings.home_community_id)
            result = run_query(request.query, port, ctx, max_results=settings.max_query_results,
                               result_filter=result_filter or AllowAll())
        if raw and request.return_type != "ObjectRef":
            text = leaf_class_text(result, settings.home_community_id)
            if text is not None:
                return RawXml(text)
        return query_response(result, request.return_type, settings.home_community_id)
    except XdsFailure as failure:
        return failure_response(failure.errors)
    except Exception:  # a registry failure is reported in the IHE way, details in the log only
        log.exception("ITI-18 stored query failed (request %s)", ctx.request_id)
        return failure_response([XdsError(XDS_REGISTRY_ERROR, "the registry could not run the query "
                                          f"(internal error, request id {ctx.request_id})", "")])


def handle_stored_query(req: SoapRequest, ctx: RequestContext, *, settings: Settings, engine: Engine,
                        mpi: PatientDirectory, result_filter: ResultFilter | None = None) -> SoapReply:
    """The ITI-18 SOAP handler (bind the keyword arguments with functools.partial when wiring)."""
    body = stored_query_body(req.body, ctx, settings=settings, engine=engine, mpi=mpi,
                             result_filter=result_filter, raw=True)
    return SoapReply(body=body, action=ACTION_ITI18_RESPONSE)
