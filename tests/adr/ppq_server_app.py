"""``POST /ppq`` on a real server for the tests: ``python -m tests.adr.ppq_server_app DB_URL MPI_OID``.

The XUA seam is not part of this branch: a test-only security header ``<tp:Principal role user
spid/>`` (namespace ``urn:test:principal``) stands in for the verified assertion. Prints
``LISTENING <host> <port>``.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from twisted.web.resource import Resource  # noqa: E402

from gateway.access import RightsSource  # noqa: E402
from gateway.config import Settings  # noqa: E402
from gateway.endpoints.ppq import build_ppq_endpoint  # noqa: E402
from gateway.pipeline import Pipeline  # noqa: E402
from gateway.server import run  # noqa: E402
from gateway.store.db import make_engine  # noqa: E402
from gateway.store.mpi import MpiStore  # noqa: E402
from gateway.store.policies import PolicyStore  # noqa: E402
from profiles.context import Principal  # noqa: E402

NS = "urn:test:principal"


class HeaderPrincipal:
    understood = frozenset({NS})

    def authenticate(self, request, transaction, ctx):
        el = request.header.find("{%s}Principal" % NS) if request.header is not None else None
        if el is None:
            return ctx.principal
        return Principal(user_id=el.get("user"), role=el.get("role"), purpose_of_use="NORM",
                         patient_epr_spid=el.get("spid"))


def build_root(settings: Settings) -> Resource:
    engine = make_engine(settings.database_url)
    mpi = MpiStore(engine, settings.mpi_oid)
    policies = PolicyStore(engine)
    root = Resource()
    root.putChild(b"ppq", build_ppq_endpoint(settings, policies, RightsSource(policies, mpi, settings.mpi_oid),
                                             Pipeline(HeaderPrincipal())))
    return root


def main() -> None:
    url, mpi_oid = sys.argv[1], sys.argv[2]
    settings = Settings(host="127.0.0.1", port=0, database_url=url, mpi_oid=mpi_oid, workers=1)
    os.environ["PYTHONPATH"] = str(Path(__file__).resolve().parents[2]) + os.pathsep + os.environ.get("PYTHONPATH", "")
    raise SystemExit(run(settings, build_root, 1,
                         on_listening=lambda host, port: print(f"LISTENING {host} {port}", flush=True)))


if __name__ == "__main__":
    main()
