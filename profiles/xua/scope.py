"""The CH:XUA patient scope as authorization policies: the assertion's patient is the only one a
request may touch.

Wrapped around each transaction's access-rights policy (``inner``) where the application is
assembled, so the check sits in the pipeline's authorization seam and inside the reads:

* ITI-18 (:class:`QueryScope`): the result filter keeps the documents of the assertion's patient
  only (:class:`profiles.xua.patient.PatientScopedFilter`); a query for another patient is an
  empty Success, as for an unknown patient.
* ITI-43 (:class:`RetrieveScope`): a document of another patient is left out, and so answered
  exactly like an unknown document (XDSDocumentUniqueIdError).
* ITI-41/42 (:class:`SubmissionScope`): a submission for another patient is refused
  (XDSPatientIdDoesNotMatch), its message naming no patient.

A principal without an EPR-SPID (no XUA on the transaction) is not scoped.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

from profiles.authorization import ALLOW_ALL, AuthorizationPolicy, Decision, deny
from profiles.context import RequestContext

from .patient import EprSpidIndex, PatientScopedFilter, _as_cx, all_patients_match

XDS_PATIENT_ID_DOES_NOT_MATCH = "XDSPatientIdDoesNotMatch"
MISMATCH = "the submission's patient is not the patient of the X-User Assertion"


class DocumentPatients(Protocol):
    def patients_of(self, document_unique_ids: Iterable[str]) -> Mapping[str, str]:
        """document uniqueId -> its patient id (CX), for the documents the registry holds."""


def _scoped(ctx: RequestContext) -> bool:
    return not ctx.principal.anonymous and bool(ctx.principal.patient_epr_spid)


class QueryScope:
    def __init__(self, mpi: EprSpidIndex, inner: AuthorizationPolicy = ALLOW_ALL) -> None:
        self.mpi, self.inner = mpi, inner

    def decide(self, ctx: RequestContext, request: Any) -> Decision:
        return self.inner.decide(ctx, request)

    def result_filter(self, ctx: RequestContext):
        inner = self.inner.result_filter(ctx)
        return PatientScopedFilter(self.mpi, inner) if _scoped(ctx) else inner


class _PatientRetrieveFilter:
    def __init__(self, mpi: EprSpidIndex, patients: DocumentPatients, ctx: RequestContext, inner) -> None:
        self.mpi, self.patients, self.inner = mpi, patients, inner
        self.ctx = ctx

    def readable_documents(self, ctx: RequestContext, documents: Sequence[Any]) -> Sequence[Any]:
        expected = self.mpi.find_by_epr_spid(ctx.principal.patient_epr_spid)
        kept: list = []
        if expected is not None:
            owners = self.patients.patients_of([d.request.document_unique_id for d in documents])
            kept = [d for d in documents
                    if d.request.document_unique_id in owners
                    and _as_cx(owners[d.request.document_unique_id]) == (expected.id, expected.oid)]
        return self.inner.readable_documents(ctx, kept) if self.inner is not None else kept


class RetrieveScope:
    def __init__(self, mpi: EprSpidIndex, patients: DocumentPatients, inner: AuthorizationPolicy = ALLOW_ALL) -> None:
        self.mpi, self.patients, self.inner = mpi, patients, inner

    def decide(self, ctx: RequestContext, request: Any) -> Decision:
        return self.inner.decide(ctx, request)

    def result_filter(self, ctx: RequestContext):
        inner = self.inner.result_filter(ctx)
        return _PatientRetrieveFilter(self.mpi, self.patients, ctx, inner) if _scoped(ctx) else inner


class SubmissionScope:
    """``patient_ids(request)`` lists the patient ids a submission names (SubmissionSet,
    DocumentEntries, Folders)."""

    def __init__(self, mpi: EprSpidIndex, patient_ids: Callable[[Any], Iterable[str]],
                 inner: AuthorizationPolicy = ALLOW_ALL) -> None:
        self.mpi, self.patient_ids, self.inner = mpi, patient_ids, inner

    def decide(self, ctx: RequestContext, request: Any) -> Decision:
        if _scoped(ctx) and not all_patients_match(ctx.principal, list(self.patient_ids(request)), self.mpi):
            return deny(MISMATCH, XDS_PATIENT_ID_DOES_NOT_MATCH)
        return self.inner.decide(ctx, request)

    def result_filter(self, ctx: RequestContext):
        return self.inner.result_filter(ctx)
