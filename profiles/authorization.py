"""The authorization seam of the pipeline: one policy object per transaction type.

The pipeline consults ``policy.decide(ctx, request)`` after the request is parsed and before the use
case runs; a denial never reaches the use case. Inside queries and retrieves the use case applies
``policy.result_filter(ctx)`` (for XDS a :class:`profiles.xds.query_ports.ResultFilter`), so what the
caller may not see is left out where the data is read, not in the handlers.

Today every transaction is wired with :data:`ALLOW_ALL`; the access-rights issue (CH:ADR) supplies
policies that read the patient's rights.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from profiles.context import RequestContext


@dataclass(frozen=True)
class Decision:
    """``allowed``; when not, ``reason`` (for the caller, revealing nothing of other patients) and
    ``code`` (the protocol's error or fault code the transaction answers with, when it has one)."""

    allowed: bool
    reason: str = ""
    code: str = ""


PERMIT = Decision(True)


def deny(reason: str, code: str = "") -> Decision:
    return Decision(False, reason, code)


class AuthorizationPolicy(Protocol):
    def decide(self, ctx: RequestContext, request: Any) -> Decision: ...

    def result_filter(self, ctx: RequestContext) -> Any | None:
        """The filter the use case applies to what it reads (``None``: nothing is filtered)."""
        ...


class AllowAll:
    """Everything allowed, nothing filtered (until the access-rights policies are wired)."""

    def decide(self, ctx: RequestContext, request: Any) -> Decision:
        return PERMIT

    def result_filter(self, ctx: RequestContext) -> None:
        return None


ALLOW_ALL = AllowAll()
