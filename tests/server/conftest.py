"""Fixtures: the test app (tests/server/app.py) running as a real server on 127.0.0.1."""
from __future__ import annotations

import pytest

from app import start_echo


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_echo(tmp_path_factory.mktemp("echo"), workers=1)
    yield srv
    srv.stop()
