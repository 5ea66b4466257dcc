"""The real gateway for integration tests: the names older tests use, on the one launcher
(:mod:`support.server`)."""
from __future__ import annotations

from pathlib import Path

from support.server import REPO, VECTORS, RunningServer, make_server, post_raw

GatewayProc = RunningServer

__all__ = ["REPO", "VECTORS", "GatewayProc", "make_gateway", "post_raw"]


def make_gateway(data_dir: Path, database_url: str | None = None, **settings: str) -> RunningServer:
    """``epd-gateway serve`` on ``data_dir`` (not started: ``.start("--workers", "1")``)."""
    return make_server(data_dir, database_url, **settings)
