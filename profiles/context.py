"""The RequestContext: who asks, for whom, why; carried from the first byte to the audit record.

Transport-free: the gateway builds it (anonymous until XUA lands), the profiles read it (the
authorization filter in the query path), the audit hook records it.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RequestContext:
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    transaction: str = ""            # e.g. "ITI-41"
    caller_id: str | None = None      # GLN, EPR-SPID, technical user id... (None: anonymous)
    caller_name: str | None = None
    role: str | None = None           # EPR role code (HCP, ASS, PAT, REP, TCU, DADM, PADM)
    organisation_ids: tuple[str, ...] = ()
    acting_for: str | None = None     # GLN of the professional an assistant acts for
    purpose_of_use: str | None = None  # NORM, EMER, AUTO, DICOM_AUTO
    home_community_id: str | None = None
    patient_epr_spid: str | None = None  # XUA resource-id, when present
    remote_addr: str | None = None
    message_id: str | None = None     # wsa:MessageID of the request

    @property
    def anonymous(self) -> bool:
        return self.caller_id is None

    def for_transaction(self, transaction: str) -> "RequestContext":
        from dataclasses import replace
        return replace(self, transaction=transaction)
