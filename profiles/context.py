"""The RequestContext: who asks, for whom, why; carried from the first byte to the audit record.

Transport-free: the gateway's pipeline builds it (the security seam yields a :class:`Principal`:
anonymous until XUA lands), the use cases and the authorization policy read it, the audit event
records it.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Principal:
    """Who the security layer says the caller is (from the TLS client certificate and the XUA
    assertion). ``ANONYMOUS`` until something authenticates the caller.

    ``user_id``: GLN (HCP, ASS, TCU's responsible HCP), EPR-SPID (PAT), representative id (REP),
    PADM/DADM id; ``role``: EPR role code (HCP, ASS, TCU, PAT, REP, PADM, DADM);
    ``acting_id``/``acting_name``: for ASS/TCU the assistant's GLN or the technical user's id, the
    user acting on behalf of ``user_id``; ``assertion``: the verified assertion element's bytes, kept
    opaque for forwarding (XCA) and audit; ``assertion_id``: its ID.
    """

    user_id: str | None = None
    user_name: str | None = None
    role: str | None = None
    acting_id: str | None = None
    acting_name: str | None = None
    organisation_ids: tuple[str, ...] = ()
    organisation_names: tuple[str, ...] = ()
    purpose_of_use: str | None = None     # NORM, EMER, AUTO, DICOM_AUTO
    patient_epr_spid: str | None = None   # XUA resource-id (the EPR-SPID, bare)
    home_community_id: str | None = None  # the XUA homeCommunityId claim
    tls_subject: str | None = None        # the client certificate's subject (mutual TLS)
    assertion_id: str | None = None
    assertion: bytes | None = None

    @property
    def anonymous(self) -> bool:
        return self.user_id is None


ANONYMOUS = Principal()


@dataclass(frozen=True)
class RequestContext:
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    transaction: str = ""            # e.g. "ITI-41"
    principal: Principal = ANONYMOUS
    remote_addr: str | None = None
    message_id: str | None = None     # wsa:MessageID of the request
    action: str | None = None         # wsa:Action of the request
    endpoint: str | None = None       # the service that received it (xds-repository, pix...)
    reply_to: str | None = None       # wsa:ReplyTo address of the request (the audit's Source)
    to: str | None = None             # wsa:To of the request (the audit's Destination: our endpoint URI)

    # -- the principal's claims, read through the context ------------------------------------
    @property
    def anonymous(self) -> bool:
        return self.principal.anonymous

    @property
    def caller_id(self) -> str | None:
        return self.principal.user_id

    @property
    def caller_name(self) -> str | None:
        return self.principal.user_name

    @property
    def role(self) -> str | None:
        return self.principal.role

    @property
    def organisation_ids(self) -> tuple[str, ...]:
        return self.principal.organisation_ids

    @property
    def acting_for(self) -> str | None:
        """For ASS/TCU: the responsible professional (the principal's user id)."""
        return self.principal.user_id if self.principal.acting_id else None

    @property
    def purpose_of_use(self) -> str | None:
        return self.principal.purpose_of_use

    @property
    def home_community_id(self) -> str | None:
        return self.principal.home_community_id

    @property
    def patient_epr_spid(self) -> str | None:
        return self.principal.patient_epr_spid

    def for_transaction(self, transaction: str) -> "RequestContext":
        return replace(self, transaction=transaction)

    def with_principal(self, principal: Principal) -> "RequestContext":
        return replace(self, principal=principal)
