"""The assertion's patient must be the request's patient.

The XUA resource-id names the patient by EPR-SPID; an XDS request names it by the community's
MPI-PID (the XAD-PID of ITI-18's ``$XDSDocumentEntryPatientId``, of an ITI-41/42 submission, of each
document an ITI-43 retrieves). The MPI maps one to the other.

How the use cases call it (one line, before any data of the patient is read or written)::

    from profiles.xua import check_patient
    check_patient(ctx.principal, mpi_pid, mpi)     # raises PatientMismatch

or for a whole submission ``all_patients_match(ctx.principal, pids, mpi)``; or, where a mismatch must
look like "nothing found" (ITI-18: an empty Success; ITI-43: the
document answered like an unknown one)::

    if not patient_matches(ctx.principal, mpi_pid, mpi): ...

``mpi_pid``: the id part (``"123"``) or the CX (``"123^^^&1.2.3&ISO"`` or a ``CX``); when it is a CX
its assigning authority must be the MPI's. ``mpi``: anything with ``find_by_epr_spid(spid) -> CX |
None`` (``gateway.store.mpi.MpiStore``). An anonymous principal or one without an EPR-SPID (a
transaction not secured by XUA) is not checked: the security seam decides who needs an assertion.
"""
from __future__ import annotations

from typing import Iterable, Protocol, Union

from profiles.ch.identifiers import CX
from profiles.context import Principal


class EprSpidIndex(Protocol):
    def find_by_epr_spid(self, spid: str) -> CX | None: ...


class PatientMismatch(Exception):
    """The request's patient is not the assertion's. The message names neither patient."""

    def __init__(self) -> None:
        super().__init__("the request's patient is not the patient of the X-User Assertion")


def _as_cx(mpi_pid: Union[str, CX]) -> tuple[str, str | None]:
    if isinstance(mpi_pid, CX):
        return mpi_pid.id, mpi_pid.oid
    text = str(mpi_pid).strip()
    if "^" in text:
        try:
            cx = CX.parse(text)
        except ValueError:
            return text, ""
        return cx.id, cx.oid
    return text, None


def patient_matches(principal: Principal, mpi_pid: Union[str, CX], mpi: EprSpidIndex) -> bool:
    """True when ``mpi_pid`` is the MPI-PID of the principal's EPR-SPID (or nothing is to check)."""
    spid = principal.patient_epr_spid
    if principal.anonymous or not spid:
        return True
    expected = mpi.find_by_epr_spid(spid)
    if expected is None:
        return False
    pid, oid = _as_cx(mpi_pid)
    if oid is not None and oid != expected.oid:
        return False
    return pid == expected.id


def check_patient(principal: Principal, mpi_pid: Union[str, CX], mpi: EprSpidIndex) -> None:
    """Raise :class:`PatientMismatch` unless :func:`patient_matches`."""
    if not patient_matches(principal, mpi_pid, mpi):
        raise PatientMismatch()


def all_patients_match(principal: Principal, mpi_pids: Iterable[Union[str, CX]], mpi: EprSpidIndex) -> bool:
    """True when every id of ``mpi_pids`` is the principal's patient (an ITI-41/42 submission's
    SubmissionSet, DocumentEntries and Folders); one MPI look-up."""
    spid = principal.patient_epr_spid
    if principal.anonymous or not spid:
        return True
    expected = mpi.find_by_epr_spid(spid)
    if expected is None:
        return False

    class _Known:
        def find_by_epr_spid(self, _spid: str) -> CX | None:
            return expected

    known = _Known()
    return all(patient_matches(principal, pid, known) for pid in mpi_pids)


class PatientScopedFilter:
    """An ITI-18 ``ResultFilter`` (profiles.xds.query_ports): of the documents a query found, only
    those of the assertion's patient, then whatever ``inner`` allows. For the stored queries that
    name no patient (GetDocuments by UUID or uniqueId, GetAssociations, ...): another patient's
    entries are left out as if they did not exist. One MPI look-up per query run."""

    def __init__(self, mpi: EprSpidIndex, inner=None) -> None:
        self.mpi = mpi
        self.inner = inner

    def allowed_documents(self, ctx, documents):
        principal = ctx.principal
        if principal.anonymous or not principal.patient_epr_spid:
            kept = list(documents)
        else:
            expected = self.mpi.find_by_epr_spid(principal.patient_epr_spid)
            kept = [] if expected is None else [d for d in documents if _as_cx(d.patient_id) == (expected.id, expected.oid)]
        return self.inner.allowed_documents(ctx, kept) if self.inner is not None else kept
