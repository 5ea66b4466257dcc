"""The real gateway on 127.0.0.1 for the client tests (``tests/support/gateway_proc.py``).

``gateway_server`` (session scope): ``epd-gateway serve --port 0 --workers 1`` on a fresh data
directory, with ``base_url``, ``url(path)``, ``data_dir`` and ``add_patient(...)``.
"""
from __future__ import annotations

import pytest

from support.gateway_proc import make_gateway


@pytest.fixture(scope="session")
def gateway_server(tmp_path_factory):
    server = make_gateway(tmp_path_factory.mktemp("gateway-data")).start("--workers", "1")
    yield server
    server.stop()
