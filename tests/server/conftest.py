"""Fixtures: the test app running as a real server on 127.0.0.1 (see server_proc.py)."""
from __future__ import annotations

import pytest

from server_proc import MAX_REQUEST_SIZE, start_server, stop_server


@pytest.fixture(scope="module")
def server():
    srv = start_server("--workers", "1", "--max-request-size", str(MAX_REQUEST_SIZE))
    yield srv
    stop_server(srv)
