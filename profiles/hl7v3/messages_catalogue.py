"""Every message the PIX/PDQ profiles answer with, each with its HL7 V3 acknowledgement detail.

The idea of IPF's ``ValidationMessage``: one catalogue, each entry a text template, its
acknowledgementDetail code (HL7 table 0357, :mod:`profiles.hl7v3.errors`) and the acknowledgement
it leads to (AE: the content is wrong; AR: the message cannot be processed at all). Call sites never
write free text or a literal code; they name an entry::

    raise M.PATIENT_UNKNOWN.error(location, patient=cx)      # an Hl7v3Error (AE, code 204)
    M.DATA_SOURCE_UNKNOWN.detail(location, root=root)        # one AckDetail
    raise M.LOCAL_ID_TAKEN.store_error(cx=cx)                # an MpiError (the store's refusals)

Tests assert on ``err.entry`` rather than on the wording.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from profiles.hl7v3 import errors as E


@dataclass(frozen=True)
class Entry:
    """One catalogued message: ``code`` (table 0357), ``template`` (``str.format`` fields),
    ``ack`` (AE or AR), ``store_kind``: the :class:`~profiles.hl7v3.errors.MpiError` subclass the
    store raises for it (``None``: a message-level problem)."""

    name: str
    code: str
    template: str
    ack: str = E.ACK_ERROR
    store_kind: type[E.MpiError] | None = None

    def text(self, **values: Any) -> str:
        return self.template.format(**values)

    def error(self, location: str | None = None, **values: Any) -> E.Hl7v3Error:
        err = (E.MessageRejected(self.text(**values), self.code, location) if self.ack == E.ACK_REJECT
               else E.Hl7v3Error(self.text(**values), self.code, location))
        err.entry = self
        return err

    def detail(self, location: str | None = None, **values: Any):
        from profiles.hl7v3.messages import AckDetail
        return AckDetail(self.text(**values), self.code, location)

    def store_error(self, **values: Any) -> E.MpiError:
        kind = self.store_kind or E.MpiError
        err = kind(self.text(**values))
        err.code = self.code
        err.entry = self
        return err

    def __repr__(self) -> str:
        return f"<catalogue entry {self.name} ({self.code})>"


_ENTRIES: dict[str, Entry] = {}


def _e(name: str, code: str, template: str, ack: str = E.ACK_ERROR,
       store_kind: type[E.MpiError] | None = None) -> Entry:
    entry = Entry(name, code, template, ack, store_kind)
    _ENTRIES[name] = entry
    return entry


class M:
    """The catalogue (attribute names are the entry names)."""

    # -- the message as a whole (AR) ---------------------------------------------------------
    NOT_WELL_FORMED = _e("NOT_WELL_FORMED", E.DATA_TYPE_ERROR, "not well-formed XML: {reason}", E.ACK_REJECT)
    NOT_HL7V3 = _e("NOT_HL7V3", E.UNSUPPORTED_MESSAGE_TYPE,
                   "expected an HL7 V3 message ({expected}) in namespace {namespace}, got {tag!r}", E.ACK_REJECT)
    INTERACTION_UNSUPPORTED = _e("INTERACTION_UNSUPPORTED", E.UNSUPPORTED_MESSAGE_TYPE,
                                 "interaction {name} is not supported here (expected {expected})", E.ACK_REJECT)
    INTERACTION_ID_MISMATCH = _e("INTERACTION_ID_MISMATCH", E.UNSUPPORTED_MESSAGE_TYPE,
                                 "interactionId {interaction_id} does not match the message {name}", E.ACK_REJECT)

    # -- structure and data types ------------------------------------------------------------
    MISSING = _e("MISSING", E.REQUIRED_FIELD_MISSING, "{what} is missing")
    TIMESTAMP_FORMAT = _e("TIMESTAMP_FORMAT", E.DATA_TYPE_ERROR, "timestamp {value!r} must start with YYYYMMDD")
    TIMESTAMP_INVALID = _e("TIMESTAMP_INVALID", E.DATA_TYPE_ERROR, "timestamp {value!r} is not a valid date")
    GENDER_UNKNOWN = _e("GENDER_UNKNOWN", E.TABLE_VALUE_NOT_FOUND, "administrativeGenderCode {code!r} is not M, F or UN")
    BIRTH_ORDER_NOT_INTEGER = _e("BIRTH_ORDER_NOT_INTEGER", E.DATA_TYPE_ERROR,
                                 "multipleBirthOrderNumber must be an integer")
    NOT_AN_INTEGER = _e("NOT_AN_INTEGER", E.DATA_TYPE_ERROR, "{raw!r} is not an integer")
    OUT_OF_RANGE = _e("OUT_OF_RANGE", E.DATA_TYPE_ERROR, "{value} is out of range")

    # -- identifiers -------------------------------------------------------------------------
    PATIENT_ID_INCOMPLETE = _e("PATIENT_ID_INCOMPLETE", E.REQUIRED_FIELD_MISSING,
                               "patient identifier needs a root (assigning authority OID) and an extension")
    NAVS13 = _e("NAVS13", E.DATA_TYPE_ERROR,
                "an AHV/AVS number (NAVS13) may not be used as an identifier in the EPR; "
                "send the EPR-SPID instead (it is not stored)", store_kind=E.InvalidIdentifier)
    EPR_SPID_REQUIRED = _e("EPR_SPID_REQUIRED", E.REQUIRED_FIELD_MISSING, "the EPR-SPID is required",
                           store_kind=E.InvalidIdentifier)
    EPR_SPID_INVALID = _e("EPR_SPID_INVALID", E.DATA_TYPE_ERROR, "invalid EPR-SPID {value!r}: {problem}",
                          store_kind=E.InvalidIdentifier)
    ID_WITHOUT_EXTENSION = _e("ID_WITHOUT_EXTENSION", E.REQUIRED_FIELD_MISSING,
                              "identifier under {oid!r} has no extension (id)", store_kind=E.InvalidIdentifier)
    ID_TOO_LONG = _e("ID_TOO_LONG", E.DATA_TYPE_ERROR,
                     "identifier longer than {limit} characters (limit hl7_max_identifier_length)",
                     store_kind=E.InvalidIdentifier)
    AUTHORITY_NOT_OID = _e("AUTHORITY_NOT_OID", E.DATA_TYPE_ERROR, "assigning authority {oid!r} is not an OID",
                           store_kind=E.InvalidIdentifier)
    NO_IDENTIFIER = _e("NO_IDENTIFIER", E.REQUIRED_FIELD_MISSING, "the patient has no identifier")
    TWO_EPR_SPIDS = _e("TWO_EPR_SPIDS", E.DATA_TYPE_ERROR, "two different EPR-SPIDs for one patient")
    TWO_MPI_PIDS = _e("TWO_MPI_PIDS", E.DATA_TYPE_ERROR, "two different MPI-PIDs for one patient")

    # -- limits (issue 14 item 2) ------------------------------------------------------------
    TEXT_TOO_LONG = _e("TEXT_TOO_LONG", E.DATA_TYPE_ERROR,
                       "{what} longer than {limit} characters (limit hl7_max_name_part_length)")
    TOO_MANY_IDENTIFIERS = _e("TOO_MANY_IDENTIFIERS", E.DATA_TYPE_ERROR,
                              "more than {limit} identifiers for one person (limit hl7_max_identifiers_per_person)")
    TOO_MANY_ENTRIES = _e("TOO_MANY_ENTRIES", E.DATA_TYPE_ERROR,
                          "more than {limit} {what} for one person (limit hl7_max_repetitions)")
    TOO_MANY_VALUES = _e("TOO_MANY_VALUES", E.DATA_TYPE_ERROR,
                         "more than {limit} values of the query parameter {parameter} "
                         "(limit hl7_max_parameter_values)")

    # -- ITI-44 ------------------------------------------------------------------------------
    FEED_NEEDS_EPR_SPID = _e("FEED_NEEDS_EPR_SPID", E.REQUIRED_FIELD_MISSING,
                             "CH:PIX: the feed must carry the EPR-SPID (root 2.16.756.5.30.1.127.3.10.3)")
    FEED_NEEDS_LOCAL_ID = _e("FEED_NEEDS_LOCAL_ID", E.REQUIRED_FIELD_MISSING,
                             "the feed must carry the patient's local id of the source system")
    REVISE_UNKNOWN = _e("REVISE_UNKNOWN", E.UNKNOWN_KEY_IDENTIFIER,
                        "no patient in the MPI has any of the identifiers of this revise")
    SURVIVOR_WITHOUT_ID = _e("SURVIVOR_WITHOUT_ID", E.REQUIRED_FIELD_MISSING,
                             "the surviving patient has no identifier")
    OBSOLETE_ID_MISSING = _e("OBSOLETE_ID_MISSING", E.REQUIRED_FIELD_MISSING,
                             "the obsolete patient identifier (priorRegisteredRole/id) is missing")
    SURVIVOR_UNKNOWN = _e("SURVIVOR_UNKNOWN", E.UNKNOWN_KEY_IDENTIFIER, "surviving patient {patient} is not in the MPI")
    OBSOLETE_UNKNOWN = _e("OBSOLETE_UNKNOWN", E.UNKNOWN_KEY_IDENTIFIER,
                          "obsolete patient {patient} is not in the MPI (or already merged)")
    FEED_INTERNAL_ERROR = _e("FEED_INTERNAL_ERROR", E.APPLICATION_INTERNAL_ERROR,
                             "internal error of the MPI; the message was not applied")

    # -- ITI-45 / ITI-47 ---------------------------------------------------------------------
    ONE_PATIENT_IDENTIFIER = _e("ONE_PATIENT_IDENTIFIER", E.REQUIRED_FIELD_MISSING,
                                "exactly one patientIdentifier parameter is required")
    DATA_SOURCE_UNKNOWN = _e("DATA_SOURCE_UNKNOWN", E.UNKNOWN_KEY_IDENTIFIER,
                             "data source {root!r} is not a domain of this PIX Manager (known: {known})")
    AUTHORITY_UNKNOWN = _e("AUTHORITY_UNKNOWN", E.UNKNOWN_KEY_IDENTIFIER,
                           "assigning authority {oid} of the {what} is not known")
    PATIENT_UNKNOWN = _e("PATIENT_UNKNOWN", E.UNKNOWN_KEY_IDENTIFIER, "patient {patient} is not known")
    QUERY_INTERNAL_ERROR = _e("QUERY_INTERNAL_ERROR", E.APPLICATION_INTERNAL_ERROR, "internal error of the MPI")
    BIRTH_TIME_FORMAT = _e("BIRTH_TIME_FORMAT", E.DATA_TYPE_ERROR,
                           "birth time {value!r} must be YYYY, YYYYMM or YYYYMMDD")
    NAME_NEEDS_PART = _e("NAME_NEEDS_PART", E.REQUIRED_FIELD_MISSING, "livingSubjectName needs a family or a given name")
    DOMAIN_UNKNOWN = _e("DOMAIN_UNKNOWN", E.UNKNOWN_KEY_IDENTIFIER,
                        "patient identification domain {root!r} is not known (known: {known})")
    QUERY_NEEDS_CRITERION = _e("QUERY_NEEDS_CRITERION", E.REQUIRED_FIELD_MISSING,
                               "the query needs a name, a birth date, an identifier or an address")
    TOO_MANY_MATCHES = _e("TOO_MANY_MATCHES", E.DATA_TYPE_ERROR, "more than {limit} patients match; refine the query")
    ABORTED_IS_CANCEL = _e("ABORTED_IS_CANCEL", E.DATA_TYPE_ERROR,
                           "statusCode aborted is a cancel; send it with the Cancel action")
    NO_OPEN_QUERY = _e("NO_OPEN_QUERY", E.UNKNOWN_KEY_IDENTIFIER,
                       "no open query with this queryId (finished, cancelled or expired)")

    # -- the store's refusals (MpiError subclasses) ------------------------------------------
    GENDER_INVALID = _e("GENDER_INVALID", E.DATA_TYPE_ERROR, "gender must be one of {allowed}, not {gender!r}",
                        store_kind=E.InvalidIdentifier)
    SPID_TAKEN = _e("SPID_TAKEN", E.DUPLICATE_KEY_IDENTIFIER,
                    "EPR-SPID {spid} is already in the MPI (MPI-PID {mpi_pid})", store_kind=E.DuplicateIdentifier)
    IDENTIFIER_TAKEN = _e("IDENTIFIER_TAKEN", E.DUPLICATE_KEY_IDENTIFIER,
                          "EPR-SPID, MPI-PID or local id already in the MPI: {reason}",
                          store_kind=E.DuplicateIdentifier)
    CONCURRENT_UPDATE = _e("CONCURRENT_UPDATE", E.DUPLICATE_KEY_IDENTIFIER,
                           "identifier already in the MPI (concurrent update): {reason}",
                           store_kind=E.DuplicateIdentifier)
    NO_PATIENT_WITH = _e("NO_PATIENT_WITH", E.UNKNOWN_KEY_IDENTIFIER, "no patient with {role}identifier {patient}",
                         store_kind=E.UnknownPatient)
    SPID_CHANGE = _e("SPID_CHANGE", E.DUPLICATE_KEY_IDENTIFIER,
                     "EPR-SPID {spid} differs from the patient's EPR-SPID; a revise cannot change it",
                     store_kind=E.ConflictingIdentifier)
    MPI_PID_CHANGE = _e("MPI_PID_CHANGE", E.DUPLICATE_KEY_IDENTIFIER,
                        "MPI-PID {mpi_pid} differs from the patient's MPI-PID", store_kind=E.ConflictingIdentifier)
    SAME_PATIENT = _e("SAME_PATIENT", E.DUPLICATE_KEY_IDENTIFIER,
                      "{survivor} and {obsolete} already name the same patient", store_kind=E.ConflictingIdentifier)
    MPI_PID_LENGTH = _e("MPI_PID_LENGTH", E.DATA_TYPE_ERROR, "MPI-PID {mpi_pid!r} must be 1 to 64 characters",
                        store_kind=E.InvalidIdentifier)
    NOT_A_LOCAL_ID = _e("NOT_A_LOCAL_ID", E.DATA_TYPE_ERROR,
                        "{cx} is not a local id: its assigning authority is the {domain} domain",
                        store_kind=E.InvalidIdentifier)
    LOCAL_ID_INVALID = _e("LOCAL_ID_INVALID", E.DATA_TYPE_ERROR, "local id {cx}: {problem}",
                          store_kind=E.InvalidIdentifier)
    LOCAL_ID_TWICE = _e("LOCAL_ID_TWICE", E.DUPLICATE_KEY_IDENTIFIER, "local id {cx} given twice",
                        store_kind=E.DuplicateIdentifier)
    SPID_MERGED = _e("SPID_MERGED", E.DUPLICATE_KEY_IDENTIFIER,
                     "EPR-SPID {spid} belongs to a record merged into MPI-PID {survivor}",
                     store_kind=E.DuplicateIdentifier)
    MPI_PID_TAKEN = _e("MPI_PID_TAKEN", E.DUPLICATE_KEY_IDENTIFIER, "MPI-PID {mpi_pid} already names another patient",
                       store_kind=E.DuplicateIdentifier)
    SPID_HAS_OTHER_PID = _e("SPID_HAS_OTHER_PID", E.DUPLICATE_KEY_IDENTIFIER,
                            "the patient with EPR-SPID {spid} has MPI-PID {mpi_pid}, not {wanted}",
                            store_kind=E.ConflictingIdentifier)
    LOCAL_ID_TAKEN = _e("LOCAL_ID_TAKEN", E.DUPLICATE_KEY_IDENTIFIER, "local id {cx} already names another patient",
                        store_kind=E.DuplicateIdentifier)


def entries() -> dict[str, Entry]:
    """Every entry by name (documentation, tests)."""
    return dict(_ENTRIES)


@dataclass(frozen=True)
class Finding:
    """A catalogued problem found by a check that does not raise (``identifier_problem``): its
    entry and text; ``str()`` is the text, so plain callers print it."""

    entry: Entry
    text: str

    @classmethod
    def of(cls, entry: Entry, **values: Any) -> "Finding":
        return cls(entry, entry.text(**values))

    def __str__(self) -> str:
        return self.text

    @property
    def code(self) -> str:
        return self.entry.code

    def store_error(self) -> E.MpiError:
        """This finding as the store's refusal (the entry's MpiError subclass)."""
        err = (self.entry.store_kind or E.MpiError)(self.text)
        err.code = self.entry.code
        err.entry = self.entry
        return err
