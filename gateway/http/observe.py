"""What the transport records of each SOAP request: one log line and the metrics, taken in one place.

:class:`gateway.http.soap_endpoint.SoapEndpoint` reports a :class:`RequestRecord` to the site's
:class:`RequestObserver` once the reply is written; the record comes from the pipeline's audit
event (its IHE status or fault code) and the transport's own measures. It holds no document
content, no names and no other patient data: ids of the request, the action, the outcome, sizes
and times.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

access_log = logging.getLogger("gateway.access")


@dataclass
class RequestRecord:
    request_id: str
    message_id: str | None
    action: str
    known_action: bool           # the endpoint serves this action (else it is a label risk: "other")
    transaction: str
    endpoint: str
    status: int                  # HTTP status
    outcome: str                 # Success / PartialSuccess / Failure / AA / AE / AR / fault:<code>
    duration: float              # seconds, from the request body received to the reply written
    bytes_in: int
    bytes_out: int
    time: float = field(default_factory=time.time)
    pid: int = field(default_factory=os.getpid)

    def fields(self) -> dict[str, Any]:
        """The log line's fields (JSON keys)."""
        return {"request_id": self.request_id, "message_id": self.message_id, "action": self.action,
                "transaction": self.transaction, "endpoint": self.endpoint, "status": self.status,
                "outcome": self.outcome, "duration_ms": round(self.duration * 1000, 3),
                "bytes_in": self.bytes_in, "bytes_out": self.bytes_out, "pid": self.pid}


class RequestObserver:
    """Logs each request (logger ``gateway.access``, INFO) and feeds the metrics (or either alone)."""

    def __init__(self, metrics: Any = None, log: bool = True) -> None:
        self.metrics = metrics
        self.log = log

    @property
    def enabled(self) -> bool:
        return self.metrics is not None or (self.log and access_log.isEnabledFor(logging.INFO))

    def observe(self, record: RequestRecord) -> None:
        if self.metrics is not None:
            self.metrics.observe_request(record)
        if self.log and access_log.isEnabledFor(logging.INFO):
            from gateway.logs import write_request
            write_request(record)
