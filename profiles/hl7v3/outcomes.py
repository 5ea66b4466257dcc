"""What the HL7 V3 use cases share: their ports, the parsed-request envelope, and the Outcome.

A use case is ``handle(ctx: RequestContext, request, ports: Hl7v3Ports) -> Outcome``; its reply is
the HL7 V3 response message (an lxml element), its status the acknowledgement code (AA/AE/AR), its
problems the acknowledgementDetails, its audit facts what the ATNA record of the transaction needs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from lxml import etree

from profiles.hl7v3.errors import ACK_ACCEPT, ACK_ERROR, ACK_REJECT, DETAIL_WARNING, Hl7v3Error
from profiles.hl7v3.limits import DEFAULT_LIMITS, Hl7v3Limits
from profiles.hl7v3.messages import II, AckDetail, MessageHeader, ResponseContext
from profiles.hl7v3.ports import MpiPort, QueryStatePort
from profiles.outcome import HL7_AA, HL7_AE, HL7_AR, AuditFacts, Outcome, Problem

#: Past this many matches an ITI-47 must be refined (AE / QE).
MAX_RESULTS = 100

_STATUS = {ACK_ACCEPT: HL7_AA, ACK_ERROR: HL7_AE, ACK_REJECT: HL7_AR}


@dataclass(frozen=True)
class Hl7v3Ports:
    """Everything the PIX/PDQ use cases reach beyond the request, bound once where the application
    is assembled: the MPI, the PDQ continuation states, who we are in response wrappers, the limits."""

    mpi: MpiPort
    responder: ResponseContext
    states: QueryStatePort | None = None
    limits: Hl7v3Limits = DEFAULT_LIMITS
    mpi_authority_name: str = ""
    max_results: int = MAX_RESULTS


@dataclass(frozen=True)
class Refusal:
    """Why a message cannot be processed as it stands: the acknowledgement (AE/AR) and its details."""

    ack: str
    details: tuple[AckDetail, ...]

    @classmethod
    def of(cls, err: Hl7v3Error) -> "Refusal":
        return cls(err.ack, tuple(getattr(err, "details", None) or (AckDetail.from_error(err),)))


def message_id_text(ii: II | None) -> str | None:
    """The HL7 V3 message id as ``root^extension`` (``root`` alone without an extension)."""
    if ii is None or not (ii.root or ii.extension):
        return None
    return f"{ii.root}^{ii.extension}" if ii.extension else ii.root


def request_message_id(header: MessageHeader | None) -> str | None:
    return message_id_text(header.message_id) if header is not None else None


def problems(details: Iterable[AckDetail]) -> tuple[Problem, ...]:
    return tuple(Problem(d.code, d.text, d.location or "", "Warning" if d.type_code == DETAIL_WARNING else "Error")
                 for d in details)


def outcome(reply: etree._Element, ack: str, details: Iterable[AckDetail], facts: AuditFacts) -> Outcome:
    """The Outcome of an HL7 V3 use case: ``ack`` is the acknowledgement typeCode of ``reply``."""
    return Outcome(reply, _STATUS[ack], problems(details), facts)


def query_text(qbp: etree._Element | None) -> str | None:
    """The query as ATNA records it: the queryByParameter element, serialized."""
    return etree.tostring(qbp, encoding="unicode") if qbp is not None else None


def query_id_text(qid: etree._Element | None) -> str | None:
    if qid is None:
        return None
    root, ext = qid.get("root") or "", qid.get("extension") or ""
    return (f"{root}^{ext}" if ext else root) or None
