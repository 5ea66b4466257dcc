"""The transport-free patient model of the master patient index (MPI).

One :class:`Patient` per person, keyed on the EPR-SPID; the community's MPI-PID is the patient id
of all XDS metadata; ``local_ids`` are the source systems' identifiers. Demographics follow the
HL7 V3 PRPA_MT201301UV02 patientPerson (names, birth time, gender, addresses, telecom, mother's
maiden name, multiple birth).

Identifier rules (the Swiss EPR): the EPR-SPID is checked (format, GS1 check digit) wherever it
enters; an AHV/AVS number (NAVS13) is never an identifier and is refused with a clear message.
:func:`identifier_problem` is the one place that says so; the store and the HL7 V3 parsers call it.
"""
from __future__ import annotations

import datetime as _dt
import re
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from profiles.ch.identifiers import (
    CX,
    EPR_SPID_OID,
    NAVS13_OID,
    epr_spid_problem,
    is_oid,
    looks_like_navs13,
)
if TYPE_CHECKING:
    from profiles.hl7v3.messages_catalogue import Finding

#: Record status values.
STATUS_ACTIVE = "active"
STATUS_MERGED = "merged"        # obsolete record of a Duplicates Resolved; answers no query

#: Administrative gender codes (HL7 V3 AdministrativeGender + the EPR's "other"/"unknown").
GENDERS = ("M", "F", "O", "U")

MAX_ID_LENGTH = 255
NAVS13_MESSAGE = ("an AHV/AVS number (NAVS13) may not be used as an identifier in the EPR; "
                  "send the EPR-SPID instead (it is not stored)")   # = messages_catalogue.M.NAVS13


@dataclass(frozen=True)
class PersonName:
    """One name of the patient (HL7 PN). ``qualifier`` is the family qualifier (``BR`` birth...)."""
    family: str = ""
    given: tuple[str, ...] = ()
    prefix: str = ""
    suffix: str = ""
    use: str = ""
    qualifier: str = ""

    @property
    def given_text(self) -> str:
        return " ".join(g for g in self.given if g)


@dataclass(frozen=True)
class Address:
    """A postal address (HL7 AD)."""
    street_lines: tuple[str, ...] = ()
    city: str = ""
    postal_code: str = ""
    state: str = ""
    country: str = ""
    use: str = ""

    def is_empty(self) -> bool:
        return not (any(self.street_lines) or self.city or self.postal_code or self.state or self.country)


@dataclass(frozen=True)
class Telecom:
    """A telecom address (HL7 TEL) such as ``tel:+41...`` or ``mailto:...``."""
    value: str
    use: str = ""


@dataclass(frozen=True)
class Demographics:
    """What the MPI knows about a person beyond identifiers."""
    names: tuple[PersonName, ...] = ()
    birth_date: _dt.date | None = None
    gender: str = "U"
    addresses: tuple[Address, ...] = ()
    telecoms: tuple[Telecom, ...] = ()
    mothers_maiden_name: str = ""
    multiple_birth: bool | None = None
    multiple_birth_order: int | None = None
    deceased: bool | None = None
    deceased_date: _dt.date | None = None

    @property
    def primary_name(self) -> PersonName:
        """The legal name: the first name without a birth (``BR``) qualifier, else the first."""
        for name in self.names:
            if name.qualifier != "BR":
                return name
        return self.names[0] if self.names else PersonName()


@dataclass(frozen=True)
class Patient:
    """One MPI record as the profiles see it."""
    mpi_pid: str
    epr_spid: str
    demographics: Demographics = field(default_factory=Demographics)
    local_ids: tuple[CX, ...] = ()
    status: str = STATUS_ACTIVE
    key: int | None = None         # store key (opaque to the profiles, used for continuation)


@dataclass(frozen=True)
class PatientFeed:
    """An ITI-44 Add/Revise (or a CLI add) before it reaches the store."""
    epr_spid: str | None
    demographics: Demographics
    local_ids: tuple[CX, ...] = ()
    mpi_pid: str | None = None     # given for migrated records, else assigned by the MPI


# -- identifier rules ------------------------------------------------------------------------

def identifier_problem(id_value: str, oid: str, *, mpi_oid: str | None = None,
                       max_length: int = MAX_ID_LENGTH) -> "Finding | None":
    """Why ``id_value`` under ``oid`` may not enter the MPI (a catalogued :class:`Finding`; ``str()``
    gives its text), or None.

    NAVS13 is refused whatever the root; an EPR-SPID (root :data:`EPR_SPID_OID`) must pass the
    format and check-digit test; any other identifier needs a non-empty id of at most
    ``max_length`` characters and an OID root.
    """
    from profiles.hl7v3.messages_catalogue import M, Finding
    id_value = id_value or ""
    if oid == NAVS13_OID or looks_like_navs13(id_value):
        return Finding.of(M.NAVS13)
    if oid == EPR_SPID_OID:
        problem = epr_spid_problem(id_value)
        return Finding.of(M.EPR_SPID_INVALID, value=id_value, problem=problem) if problem else None
    if not id_value.strip():
        return Finding.of(M.ID_WITHOUT_EXTENSION, oid=oid)
    if len(id_value) > max_length:
        return Finding.of(M.ID_TOO_LONG, limit=max_length)
    if not is_oid(oid or ""):
        return Finding.of(M.AUTHORITY_NOT_OID, oid=oid)
    return None


def epr_spid_entry_problem(value: str | None) -> "Finding | None":
    """The check applied to every EPR-SPID entering the MPI."""
    from profiles.hl7v3.messages_catalogue import M, Finding
    if value is None or value == "":
        return Finding.of(M.EPR_SPID_REQUIRED)
    if looks_like_navs13(value):
        return Finding.of(M.NAVS13)
    problem = epr_spid_problem(value)
    return Finding.of(M.EPR_SPID_INVALID, value=value, problem=problem) if problem else None


# -- normalisation for matching --------------------------------------------------------------

_SPACES = re.compile(r"\s+")


def normalize(text: str | None) -> str:
    """Case- and accent-insensitive form used for matching: NFKD, no combining marks, casefolded.

    ``"Müller-Lüdenscheidt "`` -> ``"muller-ludenscheidt"``; ``"Straße"`` -> ``"strasse"``.
    """
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", stripped.casefold()).strip()


def prefix_upper_bound(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix`` (for range scans)."""
    return prefix + "\U0010ffff"
