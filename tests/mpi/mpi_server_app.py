"""The PIX/PDQ endpoints alone: ``build_root`` for the one test launcher
(``support.server.start_server(..., app="tests.mpi.mpi_server_app:build_root")``).

``python -m tests.mpi.mpi_server_app DB_URL MPI_OID [WORKERS]`` (prints ``LISTENING <host> <port>``)
remains for bench/mpi_bench.py's ``--test-app``; no test starts it that way.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from twisted.web.resource import Resource  # noqa: E402

from gateway.config import Settings  # noqa: E402
from gateway.endpoints.pdq import build_pdq_endpoint  # noqa: E402
from gateway.endpoints.pix import build_pix_endpoint  # noqa: E402
from gateway.server import run  # noqa: E402
from gateway.store.db import make_engine  # noqa: E402
from gateway.store.mpi import MpiStore  # noqa: E402


def build_root(settings: Settings) -> Resource:
    store = MpiStore(make_engine(settings.database_url), settings.mpi_oid)
    root = Resource()
    root.putChild(b"pix", build_pix_endpoint(settings, store))
    root.putChild(b"pdq", build_pdq_endpoint(settings, store))
    return root


def main() -> None:
    url, mpi_oid = sys.argv[1], sys.argv[2]
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    settings = Settings(host="127.0.0.1", port=0, database_url=url, mpi_oid=mpi_oid, workers=workers)
    os.environ["PYTHONPATH"] = str(Path(__file__).resolve().parents[2]) + os.pathsep + os.environ.get("PYTHONPATH", "")
    raise SystemExit(run(settings, build_root, workers,
                         on_listening=lambda host, port: print(f"LISTENING {host} {port}", flush=True)))


if __name__ == "__main__":
    main()
