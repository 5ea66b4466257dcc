"""Error codes and exceptions of the HL7 V3 PIX/PDQ profiles. The messages themselves, each with
its code, are in :mod:`profiles.hl7v3.messages_catalogue` (call sites name an entry there).

Acknowledgement detail codes come from HL7 table 0357 (message error condition codes), which
IHE ITI TF-2b uses in V3 acknowledgementDetail/code (e.g. 204 Unknown Key Identifier in ITI-45/47).
"""
from __future__ import annotations

# Acknowledgement.typeCode (application acknowledgement, AcknowledgementType)
ACK_ACCEPT = "AA"
ACK_ERROR = "AE"
ACK_REJECT = "AR"

# QueryAck.queryResponseCode
QUERY_OK = "OK"
QUERY_NOT_FOUND = "NF"
QUERY_ERROR = "AE"
QUERY_QUALIFICATION_ERROR = "QE"

# AcknowledgementDetail.typeCode
DETAIL_ERROR = "E"
DETAIL_WARNING = "W"
DETAIL_INFO = "I"

#: Code system of HL7 table 0357.
ERROR_CODE_SYSTEM = "2.16.840.1.113883.12.357"

# HL7 table 0357
SEGMENT_SEQUENCE_ERROR = "100"
REQUIRED_FIELD_MISSING = "101"
DATA_TYPE_ERROR = "102"
TABLE_VALUE_NOT_FOUND = "103"
UNSUPPORTED_MESSAGE_TYPE = "200"
UNSUPPORTED_EVENT_CODE = "201"
UNSUPPORTED_PROCESSING_ID = "202"
UNSUPPORTED_VERSION_ID = "203"
UNKNOWN_KEY_IDENTIFIER = "204"
DUPLICATE_KEY_IDENTIFIER = "205"
APPLICATION_RECORD_LOCKED = "206"
APPLICATION_INTERNAL_ERROR = "207"

ERROR_NAMES = {
    SEGMENT_SEQUENCE_ERROR: "Segment sequence error",
    REQUIRED_FIELD_MISSING: "Required field missing",
    DATA_TYPE_ERROR: "Data type error",
    TABLE_VALUE_NOT_FOUND: "Table value not found",
    UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    UNSUPPORTED_EVENT_CODE: "Unsupported event code",
    UNSUPPORTED_PROCESSING_ID: "Unsupported processing id",
    UNSUPPORTED_VERSION_ID: "Unsupported version id",
    UNKNOWN_KEY_IDENTIFIER: "Unknown key identifier",
    DUPLICATE_KEY_IDENTIFIER: "Duplicate key identifier",
    APPLICATION_RECORD_LOCKED: "Application record locked",
    APPLICATION_INTERNAL_ERROR: "Application internal error",
}


class Hl7v3Error(Exception):
    """A problem with a message that becomes an acknowledgementDetail (never a stack trace).

    ``ack`` is AE (the content is wrong) or AR (the message cannot be processed at all: not
    HL7 V3, wrong interaction, broken wrapper). Raised through the catalogue
    (:mod:`profiles.hl7v3.messages_catalogue`), which sets ``entry``.
    """

    entry = None

    def __init__(self, text: str, code: str = DATA_TYPE_ERROR, location: str | None = None,
                 ack: str = ACK_ERROR) -> None:
        super().__init__(text)
        self.text = text
        self.code = code
        self.location = location
        self.ack = ack

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"{type(self).__name__}({self.text!r}, code={self.code!r}, location={self.location!r})"


class MessageRejected(Hl7v3Error):
    """The message is not one we can process (AR)."""

    def __init__(self, text: str, code: str = UNSUPPORTED_MESSAGE_TYPE, location: str | None = None) -> None:
        super().__init__(text, code, location, ACK_REJECT)


# -- store-level errors (raised by the MpiPort, mapped to details by the profile) -------------

class MpiError(ValueError):
    """A request the MPI refuses; a ValueError so plain callers (CLI) get a clear message.
    Raised through the catalogue (``Entry.store_error``), which sets ``code`` and ``entry``."""
    code = DATA_TYPE_ERROR
    entry = None


class InvalidIdentifier(MpiError):
    """Bad EPR-SPID, NAVS13, malformed id."""
    code = DATA_TYPE_ERROR


class UnknownPatient(MpiError):
    code = UNKNOWN_KEY_IDENTIFIER


class DuplicateIdentifier(MpiError):
    """An identifier (EPR-SPID, MPI-PID, local id) already names another person."""
    code = DUPLICATE_KEY_IDENTIFIER


class ConflictingIdentifier(MpiError):
    """E.g. a Revise that would change the EPR-SPID of a person."""
    code = DUPLICATE_KEY_IDENTIFIER
