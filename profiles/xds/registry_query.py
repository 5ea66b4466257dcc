"""The ITI-18 Registry Stored Query use case: ``stored_query(ctx, request, ports) -> Outcome[QueryReply]``.

Transport-free. The pipeline's parse station reads the AdhocQueryRequest into a
:class:`~.query_model.QueryRequest` (or a :class:`~.query_request.RefusedQuery` carrying its errors,
answered here with a Failure); this use case then

1. checks the patient of a Find/GetAll query against the MPI (a patient of another assigning authority,
   or unknown to the MPI, is an empty Success: the registry reveals nothing of who is registered),
2. runs the query (:func:`~.query_execution.run_query`) on one :class:`~.query_ports.QuerySession`, the
   caller's :class:`~.query_ports.ResultFilter` (``ports.policy.result_filter(ctx)``) applied inside it,
3. refuses a LeafClass answer that would carry the metadata of several patients
   (``XDSResultNotSinglePatient``; an ObjectRef answer discloses no metadata and is not restricted),
4. returns the reply model, the IHE status (Success or Failure with its errors) and the audit facts
   (query id and parameters, patient, entries returned, home community id).

Every IHE error is a Failure outcome, never an exception; an unexpected error of the registry is a
Failure ``XDSRegistryError`` naming the request id (details in the log only).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from profiles.authorization import ALLOW_ALL, AuthorizationPolicy, Decision
from profiles.context import RequestContext
from profiles.outcome import FAILURE, SUCCESS, AuditFacts, Outcome

from . import messages as M
from .constants import SEVERITY_ERROR
from .errors import XdsError, XdsFailure
from .messages import denied, problems
from .query_catalogue import QUERY_NAMES, RETURN_OBJECT_REF
from .query_execution import run_query
from .query_model import QueryRequest
from .query_ports import AllowAll, QueryResult, RegistryQueryStore, ResultFilter
from .query_request import RefusedQuery

log = logging.getLogger("profiles.xds.registry_query")

TRANSACTION = "ITI-18"
_VISIBLE_TO_ALL = AllowAll()


@dataclass(frozen=True)
class RegistryQueryConfig:
    """The registry's settings the use case reads: its MPI's assigning authority, its home community
    id (the ``home`` of every returned object), the XDSTooManyResults threshold."""

    mpi_oid: str
    home_community_id: str
    max_results: int


@dataclass(frozen=True)
class StoredQueryPorts:
    """What the ITI-18 use case runs on (wired once in ``gateway/app.py``): the registry reads, the
    configuration, and the transaction's authorization policy (its ``result_filter`` is applied inside
    the query)."""

    store: RegistryQueryStore
    config: RegistryQueryConfig
    policy: AuthorizationPolicy = ALLOW_ALL


@dataclass(frozen=True)
class QueryReply:
    """The AdhocQueryResponse as a model: ``result`` (empty on Failure), the ``return_type`` asked for,
    the ``home_community_id`` to put on each object, and the ``errors`` of a Failure."""

    result: QueryResult
    return_type: str
    home_community_id: str
    errors: tuple[XdsError, ...] = ()

    @property
    def failed(self) -> bool:
        return any(e.severity == SEVERITY_ERROR for e in self.errors)


def stored_query(ctx: RequestContext, request: QueryRequest | RefusedQuery,
                 ports: StoredQueryPorts) -> Outcome[QueryReply]:
    """Answer one Registry Stored Query (see the module docstring)."""
    config = ports.config
    if isinstance(request, RefusedQuery):
        return _failure(request.errors, None, config, query_id=request.query_id)
    try:
        result = _run(ctx, request, ports)
        if request.return_type != RETURN_OBJECT_REF:
            _single_patient(request, result)
    except XdsFailure as failure:
        return _failure(tuple(failure.errors), request, config)
    except Exception:  # a registry failure is reported in the IHE way, details in the log only
        log.exception("ITI-18 stored query failed (request %s)", ctx.request_id)
        return _failure((M.QUERY_FAILED.error(request_id=ctx.request_id),), request, config)
    reply = QueryReply(result, request.return_type, config.home_community_id)
    return Outcome(reply, SUCCESS, (), _facts(request, config, result))


def _run(ctx: RequestContext, request: QueryRequest, ports: StoredQueryPorts) -> QueryResult:
    patient = request.patient
    if patient is not None and patient.oid != ports.config.mpi_oid:
        return QueryResult()
    result_filter: ResultFilter = ports.policy.result_filter(ctx) or _VISIBLE_TO_ALL
    with ports.store.session() as session:      # one read connection for all statements of the query
        if patient is not None and not session.is_known_patient(patient.id):
            return QueryResult()
        return run_query(request.query, session.registry, ctx, max_results=ports.config.max_results,
                         result_filter=result_filter)


def _patients(result: QueryResult) -> set[str]:
    return ({d.patient_id for d in result.documents} | {s.patient_id for s in result.submission_sets}
            | {f.patient_id for f in result.folders})


def _single_patient(request: QueryRequest, result: QueryResult) -> None:
    """TF-2a 3.18.4.1.3: full metadata (LeafClass) of more than one patient is refused."""
    if request.patient is not None:
        return                      # Find/GetAll: one patient by construction
    patients = _patients(result)
    if len(patients) > 1:
        raise M.RESULT_NOT_SINGLE_PATIENT.failure(query=request.name, count=len(patients))


def _facts(request: QueryRequest | None, config: RegistryQueryConfig, result: QueryResult | None, *,
           query_id: str | None = None) -> AuditFacts:
    if request is None:
        return AuditFacts(transaction=TRANSACTION, query_id=query_id, entries_returned=0,
                          home_community_ids=(config.home_community_id,))
    if request.patient is not None:
        patients: tuple[str, ...] = (request.patient.canonical,)
    else:
        patients = tuple(sorted(_patients(result))) if result is not None else ()
    return AuditFacts(transaction=TRANSACTION, patient_ids=patients, query_id=request.query_id,
                      query_parameters=request.parameters,
                      entries_returned=result.count if result is not None else 0,
                      home_community_ids=(request.home_community_id or config.home_community_id,),
                      extra={"query_name": QUERY_NAMES.get(request.query_id, "")})


def _failure(errors: tuple[XdsError, ...], request: QueryRequest | None, config: RegistryQueryConfig, *,
             query_id: str | None = None) -> Outcome[QueryReply]:
    return_type = request.return_type if request is not None else RETURN_OBJECT_REF
    reply = QueryReply(QueryResult(), return_type, config.home_community_id, errors)
    return Outcome(reply, FAILURE, problems(errors), _facts(request, config, None, query_id=query_id))


def refuse_query(ctx: RequestContext, request: QueryRequest | RefusedQuery, decision: Decision,
                 ports: StoredQueryPorts) -> Outcome[QueryReply]:
    """The answer to a stored query the policy refused: a Failure AdhocQueryResponse (never a fault)."""
    error = denied(M.QUERY_NOT_AUTHORIZED, decision)
    if isinstance(request, RefusedQuery):
        return _failure((error,), None, ports.config, query_id=request.query_id)
    return _failure((error,), request, ports.config)
