"""An in-memory MpiPort for the use-case tests: enough of the MPI's behaviour, no database."""
from __future__ import annotations

from dataclasses import replace

from profiles.ch.identifiers import CX, EPR_SPID_OID
from profiles.hl7v3.messages_catalogue import M
from profiles.hl7v3.mpi import STATUS_MERGED, Patient, PatientFeed, normalize

MPI = "2.16.756.5.30.1.999.1.1"


class MemoryMpi:
    mpi_oid = MPI

    def __init__(self) -> None:
        self.patients: dict[int, Patient] = {}
        self.fail_with: Exception | None = None     # raised by every port call when set

    def _guard(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with

    def _owner(self, cx: CX) -> Patient | None:
        for p in self.patients.values():
            if p.status == "active" and (cx in p.local_ids or (cx.oid == MPI and cx.id == p.mpi_pid)
                                         or (cx.oid == EPR_SPID_OID and cx.id == p.epr_spid)):
                return p
        return None

    def feed_add(self, f: PatientFeed, audit=None) -> Patient:
        self._guard()
        existing = self._owner(CX(f.epr_spid, EPR_SPID_OID))
        for cx in f.local_ids:
            owner = self._owner(cx)
            if owner is not None and owner is not existing:
                raise M.LOCAL_ID_TAKEN.store_error(cx=cx)
        if existing is not None:
            p = replace(existing, demographics=f.demographics,
                        local_ids=existing.local_ids + tuple(c for c in f.local_ids if c not in existing.local_ids))
        else:
            key = len(self.patients) + 1
            p = Patient(mpi_pid=f.mpi_pid or f"P{key}", epr_spid=f.epr_spid, demographics=f.demographics,
                        local_ids=f.local_ids, key=key)
        self.patients[p.key] = p
        return p

    def feed_revise(self, key_id: CX, f: PatientFeed, audit=None) -> Patient:
        self._guard()
        p = self._owner(key_id)
        if p is None:
            raise M.NO_PATIENT_WITH.store_error(role="", patient=key_id)
        p = replace(p, demographics=f.demographics)
        self.patients[p.key] = p
        return p

    def merge(self, survivor_id: CX, obsolete_id: CX, message_id: str = "", audit=None) -> Patient:
        self._guard()
        survivor, obsolete = self._owner(survivor_id), self._owner(obsolete_id)
        if survivor is obsolete:
            raise M.SAME_PATIENT.store_error(survivor=survivor_id, obsolete=obsolete_id)
        survivor = replace(survivor, local_ids=survivor.local_ids + obsolete.local_ids)
        self.patients[survivor.key] = survivor
        self.patients[obsolete.key] = replace(obsolete, status=STATUS_MERGED)
        return survivor

    def find(self, cx: CX) -> Patient | None:
        self._guard()
        return self._owner(cx)

    def is_known_domain(self, oid: str) -> bool:
        self._guard()
        return oid in (MPI, EPR_SPID_OID) or any(c.oid == oid for p in self.patients.values() for c in p.local_ids)

    def candidates(self, query) -> list[Patient]:
        self._guard()
        out = []
        for p in self.patients.values():
            if p.status != "active":
                continue
            d = p.demographics
            if query.birth_from and not (d.birth_date and query.birth_from <= d.birth_date <= query.birth_to):
                continue
            if any(crit.family and not any(normalize(n.family).startswith(normalize(crit.family)) for n in d.names)
                   for crit in query.names):
                continue
            if any(self._owner(cx) is not p for cx in query.identifiers):
                continue
            out.append(p)
        return out

    def get_many(self, keys) -> list[Patient]:
        self._guard()
        return [self.patients[k] for k in keys if k in self.patients and self.patients[k].status == "active"]
