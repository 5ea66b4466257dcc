"""The names other modules build on stay where they were after the split of gateway/server.py."""
from __future__ import annotations

import inspect


def test_gateway_server_names_and_soap_endpoint_signature():
    from gateway.server import HealthResource, Operation, SoapEndpoint, build_site, run  # noqa: F401
    params = list(inspect.signature(SoapEndpoint.__init__).parameters)
    assert params == ["self", "name", "handlers", "wsdl_path", "settings", "pipeline", "spool_dir"]


def test_spool_dir_is_given_at_construction(tmp_path):
    """The application passes the spool directory when it builds the endpoints (no tree walk)."""
    from gateway.app import Gateway
    from gateway.config import Settings
    from gateway.store.db import upgrade
    settings = Settings(data_dir=str(tmp_path))
    upgrade(settings.effective_database_url)
    gw = Gateway(settings)
    try:
        root = gw.build_root()
        xds = root.children[b"xds"].children
        for name in (b"repository", b"registry"):
            assert xds[name].spool_dir == str(tmp_path / "blobs" / "tmp"), name
    finally:
        gw.engine.dispose()
