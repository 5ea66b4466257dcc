"""What every use case returns: the reply as a model, the IHE outcome, and the audit facts.

A use case is ``handle(ctx: RequestContext, request, ports) -> Outcome``. The gateway's pipeline
renders ``Outcome.reply`` to the wire and builds **exactly one audit event** from the Outcome (and
the context) through one function. Transport-free: no SOAP, Twisted, SQLAlchemy or zeep here.

IHE outcomes:

* XDS and XCA (ebRS ``RegistryResponse``/``AdhocQueryResponse``/``RetrieveDocumentSetResponse``):
  ``Success``, ``PartialSuccess``, ``Failure`` (:data:`SUCCESS`, :data:`PARTIAL_SUCCESS`,
  :data:`FAILURE`).
* HL7 V3 (PIX/PDQ/XCPD acknowledgements): ``AA``, ``AE``, ``AR``.

The audit event's outcome is derived from these alone (:meth:`Outcome.event_outcome`), so an ITI-18
answered with a Failure status is audited as a failure, a PartialSuccess as a minor failure.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, Mapping, TypeVar

SUCCESS = "Success"
PARTIAL_SUCCESS = "PartialSuccess"
FAILURE = "Failure"
HL7_AA = "AA"
HL7_AE = "AE"
HL7_AR = "AR"

#: RFC 3881 / DICOM EventOutcomeIndicator values.
EVENT_SUCCESS = 0
EVENT_MINOR_FAILURE = 4
EVENT_SERIOUS_FAILURE = 8
EVENT_MAJOR_FAILURE = 12

_EVENT_OUTCOME = {SUCCESS: EVENT_SUCCESS, HL7_AA: EVENT_SUCCESS,
                  PARTIAL_SUCCESS: EVENT_MINOR_FAILURE,
                  FAILURE: EVENT_SERIOUS_FAILURE, HL7_AE: EVENT_SERIOUS_FAILURE,
                  HL7_AR: EVENT_MAJOR_FAILURE}


@dataclass(frozen=True)
class Problem:
    """One error or warning of an outcome, in the profile's own terms.

    ``code``: the IHE error code (``XDSRegistryMetadataError``...) or the HL7 V3 detail code;
    ``message``: human readable; ``location``: the object concerned (id, uniqueId, XPath);
    ``severity``: ``"Error"`` or ``"Warning"``.
    """

    code: str
    message: str
    location: str = ""
    severity: str = "Error"


@dataclass(frozen=True)
class AuditFacts:
    """What the ATNA record of one transaction needs to know, gathered by the use case.

    Every field is optional: a use case fills what its transaction's audit message names
    (IHE ITI TF-2, each transaction's "Security Considerations"). Identifiers are in their wire form
    (patient ids as CX ``ID^^^&OID&ISO``; uniqueIds; ``urn:oid:`` home community ids).
    """

    transaction: str = ""                       # "ITI-41"
    patient_ids: tuple[str, ...] = ()           # MPI-PID (XDS) or the ids of the HL7 V3 subject
    document_unique_ids: tuple[str, ...] = ()
    submission_set_unique_id: str | None = None
    repository_unique_ids: tuple[str, ...] = ()
    home_community_ids: tuple[str, ...] = ()
    query_id: str | None = None                 # stored query id (ITI-18) or HL7 V3 query id
    query_parameters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    query_text: str | None = None               # the request's query element, serialized (ATNA QueryParameters)
    entries_returned: int | None = None
    confidentiality_codes: tuple[str, ...] = ()  # of retrieved documents
    message_id: str | None = None               # HL7 V3 message id of the request
    extra: Mapping[str, Any] = field(default_factory=dict)


R = TypeVar("R")


@dataclass(frozen=True)
class Outcome(Generic[R]):
    """The result of one use case: ``reply`` (a profile model or message), ``status`` (the IHE
    outcome, see the module doc), ``problems`` (errors and warnings), ``audit`` (:class:`AuditFacts`)."""

    reply: R
    status: str
    problems: tuple[Problem, ...] = ()
    audit: AuditFacts = field(default_factory=AuditFacts)
    #: the audit event the use case already stored inside its change's own database transaction
    #: (:func:`profiles.audit.record_with_change`): the pipeline then writes no second one
    recorded: Any = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.status not in _EVENT_OUTCOME:
            raise ValueError(f"unknown IHE outcome {self.status!r}")

    @property
    def succeeded(self) -> bool:
        return self.status in (SUCCESS, HL7_AA)

    @property
    def event_outcome(self) -> int:
        """The audit EventOutcomeIndicator that this IHE outcome means."""
        return _EVENT_OUTCOME[self.status]


def xds_status(problems: tuple[Problem, ...] | list[Problem], *, partial: bool = False) -> str:
    """The ebRS status for a list of problems: any error -> Failure (PartialSuccess when ``partial``,
    i.e. some of the work was done), else Success (warnings alone do not fail)."""
    if any(p.severity == "Error" for p in problems):
        return PARTIAL_SUCCESS if partial else FAILURE
    return SUCCESS
