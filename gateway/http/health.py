"""``GET /health``: ``{"status": "ok", ...}`` as JSON."""
from __future__ import annotations

import json
from typing import Any, Callable, Mapping

from twisted.web import resource, server


class HealthResource(resource.Resource):
    """``GET`` -> ``{"status": "ok", ...extra()}`` as JSON."""

    isLeaf = True

    def __init__(self, extra: Callable[[], Mapping[str, Any]] | None = None) -> None:
        super().__init__()
        self.extra = extra

    def render_GET(self, request: server.Request) -> bytes:  # noqa: N802
        data: dict[str, Any] = {"status": "ok"}
        if self.extra is not None:
            data.update(self.extra())
        request.setHeader(b"content-type", b"application/json")
        return json.dumps(data).encode()
