"""Demo data: a few patients in the MPI and documents in the registry/repository (idempotent)."""
from __future__ import annotations

import base64
import datetime as _dt
from typing import Iterator

from gateway.config import Settings

DEMO_PATIENTS = [
    # EPR-SPID, family, given, birth date, gender, local id at the demo hospital
    ("761337610411353650", "Muster", "Franz", "1965-03-12", "M", "HOSP-1001"),
    ("761337610433933946", "Eméry", "Roman Remo", "2011-08-16", "M", "HOSP-1002"),
    ("761337610410098484", "Rossi", "Maria", "1978-11-30", "F", "HOSP-1003"),
]
DEMO_HOSPITAL_OID = "2.16.756.5.30.1.999.2.1"


def load_demo(settings: Settings) -> Iterator[str]:
    from profiles.ch.identifiers import CX
    from gateway.app import Gateway
    from gateway.clients.submission import DocumentSpec, provide_and_register_request

    gw = Gateway(settings)
    try:
        for spid, family, given, birth, gender, local in DEMO_PATIENTS:
            pid = gw.mpi.find_by_epr_spid(spid)
            if pid is not None:
                yield f"demo patient {given} {family} already present: {pid}"
                continue
            pid = gw.mpi.add_patient(spid, family, given, _dt.date.fromisoformat(birth), gender,
                                     [CX(local, DEMO_HOSPITAL_OID)])
            docs = [DocumentSpec(f"Demo consultation report for {given} {family}\n".encode(), mime_type="text/plain",
                                 source_patient_id=f"{local}^^^&{DEMO_HOSPITAL_OID}&ISO"),
                    DocumentSpec(b"%PDF-1.4\n% demo discharge letter\n", mime_type="application/pdf",
                                 title="Discharge letter", source_patient_id=f"{local}^^^&{DEMO_HOSPITAL_OID}&ISO")]
            body, _parts = provide_and_register_request(str(pid), docs, inline=True)
            errors = gw.xds.provide_and_register(body, lambda el: base64.b64decode(el.text or ""))
            if errors:
                raise RuntimeError("demo documents refused: " + "; ".join(e.context for e in errors))
            yield f"demo patient {given} {family}: MPI-PID {pid}, {len(docs)} documents " + \
                  ", ".join(d.unique_id for d in docs)
    finally:
        gw.engine.dispose()
