"""Ports the PIX/PDQ logic calls; ``gateway.store.mpi.MpiStore`` implements :class:`MpiPort`.

Every method of :class:`MpiPort` that writes is one database transaction: one ITI-44 message is
one port call, so nothing is ever half-written. Errors the sender caused are raised as
:class:`profiles.hl7v3.errors.MpiError` subclasses; the profile turns them into AE acknowledgements.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Protocol, Sequence, runtime_checkable

from profiles.ch.identifiers import CX
from profiles.hl7v3.mpi import Address, Patient, PatientFeed


@dataclass(frozen=True)
class NameCriterion:
    """A name to match. ``prefix``: fuzzy (case/accent-insensitive prefix) instead of equality."""
    family: str = ""
    given: str = ""
    prefix: bool = False


@dataclass(frozen=True)
class DemographicQuery:
    """The ITI-47 criteria the store evaluates (every given criterion must match)."""
    names: tuple[NameCriterion, ...] = ()
    birth_from: _dt.date | None = None     # inclusive range: a full date gives from == to
    birth_to: _dt.date | None = None
    gender: str | None = None
    address: Address | None = None
    identifiers: tuple[CX, ...] = ()       # local ids, MPI-PID or EPR-SPID (the patient has all)
    mothers_maiden_name: str = ""
    telecom: str = ""

    def is_empty(self) -> bool:
        return not (self.names or self.birth_from or self.birth_to or self.gender or self.address
                    or self.identifiers or self.mothers_maiden_name or self.telecom)


@dataclass(frozen=True)
class SearchHit:
    patient: Patient
    score: int                             # 0..100, carried in queryMatchObservation


@runtime_checkable
class MpiPort(Protocol):
    """The master patient index as the HL7 V3 logic needs it."""

    mpi_oid: str

    # ``audit``: each write below takes an optional ``audit(patient) -> AuditEvent`` (durable first):
    # a port that stores audit records calls it inside the write's own database transaction, with
    # the person as written, and stores the event it returns there (they commit or roll back
    # together); a port that stores none never calls it (the pipeline records the event after).

    def feed_add(self, feed: PatientFeed, audit=None) -> Patient:
        """ITI-44 Add: create the person, or link the new local ids to the person with this
        EPR-SPID. Raises DuplicateIdentifier when a local id belongs to another person."""

    def feed_revise(self, key_id: CX, feed: PatientFeed, audit=None) -> Patient:
        """ITI-44 Revise: replace the demographics of the person ``key_id`` names, add new local ids.
        Raises UnknownPatient, ConflictingIdentifier."""

    def merge(self, survivor_id: CX, obsolete_id: CX, message_id: str = "", audit=None) -> Patient:
        """ITI-44 Duplicates Resolved: the survivor keeps every local id of both; the obsolete
        record is marked merged and answers no query any more."""

    def find(self, identifier: CX) -> Patient | None:
        """The active person a local id, MPI-PID or EPR-SPID names, or None."""

    def is_known_domain(self, oid: str) -> bool:
        """True for the MPI's own OID, the EPR-SPID OID and any source domain ever fed."""

    def candidates(self, query: DemographicQuery) -> list[Patient]:
        """Active persons matching the indexed criteria of ``query`` (names, birth date, gender,
        address, identifiers), a bounded number; the PDQ rule (:mod:`profiles.hl7v3.matching`)
        decides the match and its score on them."""

    def get_many(self, keys: Sequence[int]) -> list[Patient]:
        """Active persons by store key, in the order given (for continuations)."""


@dataclass
class QueryState:
    """What a PDQ continuation needs: the remaining result keys and their scores."""
    keys: list[int]
    scores: list[int]
    position: int = 0
    return_domains: tuple[str, ...] = ()
    query_by_parameter: bytes = b""        # the original queryByParameter, echoed in responses
    extra: dict = field(default_factory=dict)


@runtime_checkable
class QueryStatePort(Protocol):
    """Where PDQ continuation state lives between messages (memory or database)."""

    def save(self, query_key: str, state: QueryState) -> None: ...

    def load(self, query_key: str) -> QueryState | None: ...

    def delete(self, query_key: str) -> bool: ...
