"""The patient's rights wired into the pipeline: authorization policies and result filters.

One object per transaction kind, each implementing :class:`profiles.authorization.AuthorizationPolicy`
(``decide`` before the use case, ``result_filter`` applied inside reads):

* :class:`ReadPolicy` (ITI-18): ``decide`` permits (what the caller may not read is left out, not an
  error); ``result_filter(ctx)`` is the :class:`profiles.xds.query_ports.ResultFilter` the stored
  query applies (:class:`ReadFilter`).
* :class:`RetrievePolicy` (ITI-43): ``decide`` charges the read rate limit; ``result_filter(ctx)`` is a
  :class:`RetrieveFilter`: wrap the repository reader with it and a document the caller may not read
  is answered exactly like an unknown one (``XDSDocumentUniqueIdError``).
* :class:`ProvidePolicy` (ITI-41/42): ``decide`` checks every document against the patient's provide
  level (template 203) and raises a less restrictive confidentialityCode to the patient's default.

Emergency reads (an HCP with purpose EMER reading what only template 202 lets it read) are noted by
the filters per request; :func:`with_emergency_notices` wraps a use case so that, once it returned
its Outcome, the reads are recorded for the patient and sent through the notifier.
See docs/decisions/008-access-rights.md for the integration.
"""
from __future__ import annotations

import datetime as _dt
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from profiles.adr import engine as E
from profiles.adr import model as M
from profiles.adr.provide import raise_confidentiality
from profiles.authorization import PERMIT, Decision, deny
from profiles.ch.identifiers import CX
from profiles.context import RequestContext
from profiles.outcome import FAILURE, Outcome

log = logging.getLogger("gateway.access")

try:  # the validity dates of policy sets are Swiss calendar days
    from zoneinfo import ZoneInfo
    _ZONE = ZoneInfo("Europe/Zurich")
except Exception:  # pragma: no cover - no tz database
    _ZONE = _dt.timezone.utc


def swiss_today() -> _dt.date:
    return _dt.datetime.now(_ZONE).date()


class RightsSource:
    """The rights of a patient, by EPR-SPID or by the MPI-PID of XDS metadata.

    A patient known to the MPI whose record was never opened (fed by ITI-44 before the policy store
    existed, or by a path that does not open records) is opened on first use with the defaults.
    """

    def __init__(self, policies, mpi, mpi_oid: str, today: Callable[[], _dt.date] = swiss_today) -> None:
        self.policies, self.mpi, self.mpi_oid, self.today = policies, mpi, mpi_oid, today

    def for_spid(self, spid: str | None) -> M.PatientRights:
        if not spid:
            return M.CLOSED
        rights = self.policies.rights(spid)
        if not rights.opened and self.mpi is not None and self.mpi.find_by_epr_spid(spid) is not None:
            self.policies.open_record(spid)
            rights = self.policies.rights(spid)
        return rights

    def spid_of(self, patient_id: str) -> str | None:
        """The EPR-SPID of an XDS patientId (CX under the MPI's OID), None when unknown."""
        try:
            cx = CX.parse(patient_id)
        except ValueError:
            return None
        if cx.oid != self.mpi_oid or self.mpi is None:
            return None
        patient = self.mpi.find(cx)
        return patient.epr_spid if patient is not None else None

    def for_patient_id(self, patient_id: str) -> tuple[str | None, M.PatientRights]:
        spid = self.spid_of(patient_id)
        return spid, self.for_spid(spid)


# -- emergency reads noted during a request -----------------------------------------------------

@dataclass
class EmergencyRead:
    spid: str
    documents: list[str] = field(default_factory=list)


class EmergencyLog:
    """Emergency reads per request id, until :func:`with_emergency_notices` takes them (bounded:
    an entry nobody takes is dropped after ``capacity`` later requests)."""

    def __init__(self, capacity: int = 4096) -> None:
        self._reads: OrderedDict[str, dict[str, EmergencyRead]] = OrderedDict()
        self._lock = threading.Lock()
        self.capacity = capacity

    def note(self, request_id: str, spid: str, document_unique_id: str) -> None:
        with self._lock:
            per = self._reads.setdefault(request_id, {})
            read = per.setdefault(spid, EmergencyRead(spid))
            if document_unique_id not in read.documents:
                read.documents.append(document_unique_id)
            while len(self._reads) > self.capacity:
                self._reads.popitem(last=False)

    def take(self, request_id: str) -> list[EmergencyRead]:
        with self._lock:
            return list(self._reads.pop(request_id, {}).values())


class _Access:
    """Per request: the caller's read access to each patient met (one rights lookup per patient)."""

    def __init__(self, rights: RightsSource, ctx: RequestContext, emergency: EmergencyLog | None) -> None:
        self.rights, self.ctx, self.emergency = rights, ctx, emergency
        self.subject = E.Subject.of(ctx.principal)
        self._by_pid: dict[str, tuple[str | None, E.ReadAccess]] = {}

    def of(self, patient_id: str) -> tuple[str | None, E.ReadAccess]:
        hit = self._by_pid.get(patient_id)
        if hit is None:
            if not self.subject.role:       # anonymous: no rights to look up
                hit = (None, E.ReadAccess(frozenset(), frozenset()))
            else:
                spid, rights = self.rights.for_patient_id(patient_id)
                hit = (spid, E.read_access(rights, self.subject, self.rights.today()))
            self._by_pid[patient_id] = hit
        return hit

    def may_read(self, patient_id: str, codes, unique_id: str) -> bool:
        spid, access = self.of(patient_id)
        if spid is None:
            return False
        claimed = self.ctx.patient_epr_spid
        if claimed and claimed != spid:      # the assertion is about another patient
            return False
        level = M.level_of_codes(codes)
        if not access.may_read(level):
            return False
        if level in access.emergency_only and self.emergency is not None:
            self.emergency.note(self.ctx.request_id, spid, unique_id)
        return True


class ReadFilter:
    """The ITI-18 :class:`~profiles.xds.query_ports.ResultFilter`: the documents the caller may read."""

    def __init__(self, rights: RightsSource, emergency: EmergencyLog | None = None) -> None:
        self.rights, self.emergency = rights, emergency

    def allowed_documents(self, ctx: RequestContext, documents):
        access = _Access(self.rights, ctx, self.emergency)
        return [d for d in documents if access.may_read(d.patient_id, d.confidentiality_codes, d.unique_id)]


class ReadPolicy:
    """ITI-18: every request is answered; the filter leaves out what the caller may not read."""

    def __init__(self, rights: RightsSource, emergency: EmergencyLog | None = None) -> None:
        self.filter = ReadFilter(rights, emergency)

    def decide(self, ctx: RequestContext, request: Any) -> Decision:
        return PERMIT

    def result_filter(self, ctx: RequestContext) -> ReadFilter:
        return self.filter


# -- ITI-43 -------------------------------------------------------------------------------------

def _registry_facts(engine: Engine, unique_ids: Sequence[str]) -> dict[str, tuple[str, list]]:
    """uniqueId -> (patientId, [(code, scheme)...]) of the registered documents (every status)."""
    from gateway.store import registry_tables as T
    out: dict[str, tuple[str, list]] = {}
    if not unique_ids:
        return out
    d, c = T.documents, T.document_codes
    q = (sa.select(d.c.unique_id, d.c.patient_id, c.c.code, c.c.scheme)
         .select_from(d.outerjoin(c, sa.and_(c.c.document == d.c.entry_uuid, c.c.kind == "conf")))
         .where(d.c.unique_id.in_(list(unique_ids))))
    with engine.connect() as conn:
        for uid, pid, code, scheme in conn.execute(q):
            entry = out.setdefault(uid, (pid, []))
            if code is not None:
                entry[1].append((code, scheme))
    return out


class RetrieveFilter:
    """What an ITI-43 caller may read. ``allowed(ctx, unique_ids)`` -> the readable subset;
    ``reader(ctx, reader, unique_ids)`` wraps a :class:`profiles.xds.repository.RepositoryReader` so
    that a document the caller may not read is not found (the use case then answers it exactly like
    an unknown document: ``XDSDocumentUniqueIdError``)."""

    def __init__(self, rights: RightsSource, engine: Engine, emergency: EmergencyLog | None = None) -> None:
        self.rights, self.engine, self.emergency = rights, engine, emergency

    def allowed(self, ctx: RequestContext, unique_ids: Iterable[str]) -> set[str]:
        ids = list(dict.fromkeys(unique_ids))
        access = _Access(self.rights, ctx, self.emergency)
        facts = _registry_facts(self.engine, ids)
        return {uid for uid in ids if uid in facts and access.may_read(facts[uid][0], facts[uid][1], uid)}

    def reader(self, ctx: RequestContext, reader, unique_ids: Iterable[str]):
        return _FilteredReader(reader, self.allowed(ctx, unique_ids))

    def readable_documents(self, ctx: RequestContext, documents):
        """The :class:`profiles.xds.retrieve.RetrieveFilter` seam: of the documents the repository
        found (``RetrievedDocument``), those the caller may read; the use case answers the others
        exactly like unknown documents."""
        allowed = self.allowed(ctx, [d.request.document_unique_id for d in documents])
        return [d for d in documents if d.request.document_unique_id in allowed]


class _FilteredReader:
    def __init__(self, inner, allowed: set[str]) -> None:
        self.inner, self.allowed = inner, allowed

    def find(self, repository_unique_id: str, document_unique_id: str):
        if document_unique_id not in self.allowed:
            return None
        return self.inner.find(repository_unique_id, document_unique_id)


RATE_LIMITED = "urn:e-health-suisse:2015:error:read-limit-exceeded"
PROFESSIONALS = (M.HCP, M.ASS, M.TCU)


def _document_requests(request: Any) -> list:
    """The DocumentRequests of an ITI-43 request model: a list of them, or an object with
    ``.requests`` / ``.documents``."""
    if isinstance(request, (list, tuple)):
        return list(request)
    for name in ("requests", "document_requests", "documents"):
        value = getattr(request, name, None)
        if value is not None:
            return list(value)
    return []


class RetrievePolicy:
    """ITI-43: the read rate limit in ``decide`` (a denial is a SOAP fault saying so), the
    :class:`RetrieveFilter` inside the retrieve."""

    def __init__(self, rights: RightsSource, engine: Engine, limiter=None,
                 emergency: EmergencyLog | None = None) -> None:
        self.filter = RetrieveFilter(rights, engine, emergency)
        self.limiter = limiter

    def decide(self, ctx: RequestContext, request: Any) -> Decision:
        if self.limiter is None or ctx.role not in PROFESSIONALS:
            return PERMIT
        user = ctx.principal.acting_id or ctx.caller_id
        if not user:
            return PERMIT
        charge = self.limiter.charge(user, max(1, len(_document_requests(request))))
        if charge.allowed:
            return PERMIT
        until = charge.blocked_until.isoformat(timespec="seconds") if charge.blocked_until else "later"
        return deny(f"read limit exceeded: user {user} retrieved the maximum number of documents allowed per "
                    f"period and is blocked until {until}", RATE_LIMITED)

    def result_filter(self, ctx: RequestContext) -> RetrieveFilter:
        return self.filter


# -- ITI-41/42 ----------------------------------------------------------------------------------

NOT_AUTHORIZED = "urn:e-health-suisse:2015:error:not-authorized"


def _submission(request: Any):
    return getattr(request, "submission", request)


class ProvidePolicy:
    """ITI-41/42: may the caller provide these documents for this patient, and at which level.

    Every document is checked against the patient's provide level (203; PAT/REP/DADM by 105/111):
    any HCP (and its ASS or TCU) provides for an open record without read rights; the patient's
    default confidentiality raises a lower code of the provider's **in place** (model and ebRIM
    element), so the use case stores the raised code. A patient unknown to the MPI is left to the use
    case (XDSUnknownPatientId). ``submission_of(request)``: the
    :class:`profiles.xds.metadata.Submission` of the request model (default: ``request.submission``
    or the request itself).
    """

    def __init__(self, rights: RightsSource, submission_of: Callable[[Any], Any] = _submission) -> None:
        self.rights, self.submission_of = rights, submission_of

    def decide(self, ctx: RequestContext, request: Any) -> Decision:
        sub = self.submission_of(request)
        subject = E.Subject.of(ctx.principal)
        today = self.rights.today()
        for d in getattr(sub, "documents", ()):
            if not d.confidentiality_codes:
                continue                      # a metadata error: the use case's validation answers it
            spid = self.rights.spid_of(d.patient_id)
            if spid is None:
                continue                      # unknown patient: the registry answers XDSUnknownPatientId
            if ctx.patient_epr_spid and ctx.patient_epr_spid != spid:
                return deny("the assertion is not about the patient of the submission", NOT_AUTHORIZED)
            rights = self.rights.for_spid(spid)
            provided = M.level_of_codes([(c.code, c.scheme) for c in d.confidentiality_codes])
            decision = E.provide_decision(rights, subject, provided, today)
            if not decision.allowed:
                return deny(f"not authorized to provide document {d.unique_id or d.entry_uuid} for this patient "
                            f"at confidentiality {decision.level}", NOT_AUTHORIZED)
            if decision.raised:
                raise_confidentiality(d, decision.level)
        return PERMIT

    def result_filter(self, ctx: RequestContext) -> None:
        return None


# -- emergency notices --------------------------------------------------------------------------

def with_emergency_notices(use_case: Callable[[RequestContext, Any], Outcome], emergency: EmergencyLog,
                           policies, notifier=None, email_of: Callable[[str], str | None] | None = None):
    """Wrap ``use_case``: after it returned, the emergency reads its filters noted are recorded for
    each patient (``adr_notification``) and sent through ``notifier`` (to ``email_of(spid)``).
    Only documents the Outcome reports (``audit.document_unique_ids``, when it lists any) count, and
    none of a Failure (nothing was returned)."""

    def run(ctx: RequestContext, request: Any) -> Outcome:
        outcome = use_case(ctx, request)
        reads = emergency.take(ctx.request_id)
        if not reads or outcome.status == FAILURE:   # a failed query or retrieve returned nothing
            return outcome
        reported = set(outcome.audit.document_unique_ids)
        for read in reads:
            docs = [d for d in read.documents if not reported or d in reported]
            if docs:
                record_emergency_access(policies, notifier, email_of, ctx, read.spid, docs)
        return outcome

    return run


def record_emergency_access(policies, notifier, email_of, ctx: RequestContext, spid: str, documents) -> int:
    p = ctx.principal
    org = ", ".join(p.organisation_names or p.organisation_ids)
    nid = policies.record_notification(spid, ctx.transaction or "", p.user_id or "", p.user_name or "",
                                       p.acting_id or "", org, documents)
    if notifier is not None:
        from gateway.notify import EmergencyAccessNotice
        notice = EmergencyAccessNotice(spid, _dt.datetime.now(_dt.timezone.utc), ctx.transaction or "",
                                       p.user_id or "", p.user_name or "", org, tuple(documents))
        address = email_of(spid) if email_of is not None else None
        try:
            notifier.send(notice, address)
            policies.mark_delivered(nid)
        except Exception as exc:   # the access stays recorded; delivery is retried by the operator
            log.warning("emergency-access notice %s for %s not delivered: %s", nid, spid, exc)
            policies.mark_delivered(nid, error=str(exc) or type(exc).__name__)
    return nid


# -- everything at once -------------------------------------------------------------------------

@dataclass
class AccessRights:
    """The access-rights objects of one gateway process, built by :func:`access_rights`."""

    policies: Any
    rights: RightsSource
    emergency: EmergencyLog
    limiter: Any
    notifier: Any
    read: ReadPolicy
    retrieve: RetrievePolicy
    provide: ProvidePolicy
    email_of: Callable[[str], str | None] | None = None

    def with_notices(self, use_case: Callable[[RequestContext, Any], Outcome]):
        """``use_case`` with emergency reads recorded and notified (ITI-18, ITI-43)."""
        return with_emergency_notices(use_case, self.emergency, self.policies, self.notifier, self.email_of)


def access_rights(settings, engine: Engine, mpi) -> AccessRights:
    """Policy store, rights source, rate limiter and notifier from the settings
    (``emergency_default``, ``read_limit``/``read_block``, ``notify_smtp``/``notify_from``), and the
    three transaction policies over them."""
    from gateway.notify import notifier_from_settings
    from gateway.ratelimit import ReadLimiter
    from gateway.store.policies import PolicyStore
    policies = PolicyStore(engine, settings.emergency_default or M.NORMAL)
    rights = RightsSource(policies, mpi, settings.mpi_oid)
    log = EmergencyLog()
    limiter = ReadLimiter.from_settings(engine, settings.read_limit, settings.read_block)
    return AccessRights(policies, rights, log, limiter, notifier_from_settings(settings),
                        ReadPolicy(rights, log), RetrievePolicy(rights, engine, limiter, log), ProvidePolicy(rights),
                        getattr(mpi, "email_of", None))
