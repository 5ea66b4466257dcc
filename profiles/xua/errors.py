"""What can be wrong with an X-User Assertion, as kinds the gateway maps to WS-Security faults.

The mapping to SOAP fault subcodes (WS-Security 1.1 §12) is in ``gateway.security.faults`` and
docs/decisions/007-xua-faults.md.
"""
from __future__ import annotations

#: the assertion (or the wsse:Security header) is not well formed: missing elements, two of a kind
MALFORMED = "malformed"
#: well formed, but a claim breaks a CH:XUA rule (role, purpose of use, qualifier, resource-id...)
INVALID_CLAIMS = "invalid-claims"
#: NotOnOrAfter (plus the tolerated clock skew) has passed
EXPIRED = "expired"
#: NotBefore (minus the tolerated clock skew) is still in the future
NOT_YET_VALID = "not-yet-valid"


class XuaError(Exception):
    """An assertion refused by the CH:XUA rules; ``kind`` is one of the constants above."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    def __repr__(self) -> str:
        return f"XuaError({self.kind!r}, {self.message!r})"
