"""The PIX/PDQ endpoints alone on a real server: ``python bench/mpi_server_app.py DB_URL MPI_OID [WORKERS]``.

Prints ``LISTENING <host> <port>`` once the socket listens (port 0: any free port). Used by
``bench/mpi_bench.py --test-app`` (the gateway without its XDS endpoints). ``EPD_*`` variables
(the HL7 V3 limits, for instance) are read as by ``epd-gateway serve``.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from twisted.web.resource import Resource  # noqa: E402

from gateway.app import hl7v3_ports  # noqa: E402
from gateway.config import Settings, load_settings  # noqa: E402
from gateway.endpoints.pdq import build_pdq_endpoint  # noqa: E402
from gateway.endpoints.pix import build_pix_endpoint  # noqa: E402
from gateway.server import run  # noqa: E402
from gateway.store.db import make_engine  # noqa: E402
from gateway.store.mpi import MpiStore  # noqa: E402


def build_root(settings: Settings) -> Resource:
    ports = hl7v3_ports(settings, MpiStore(make_engine(settings.database_url), settings.mpi_oid))
    root = Resource()
    root.putChild(b"pix", build_pix_endpoint(settings, ports))
    root.putChild(b"pdq", build_pdq_endpoint(settings, ports))
    return root


def main() -> None:
    url, mpi_oid = sys.argv[1], sys.argv[2]
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    settings = load_settings(host="127.0.0.1", port=0, database_url=url, mpi_oid=mpi_oid, workers=workers)
    os.environ["PYTHONPATH"] = str(ROOT) + os.pathsep + str(ROOT / "bench") + os.pathsep + os.environ.get("PYTHONPATH", "")
    raise SystemExit(run(settings, build_root, workers,
                         on_listening=lambda host, port: print(f"LISTENING {host} {port}", flush=True)))


if __name__ == "__main__":
    main()
