"""Demographics <-> the JSON held in ``mpi_patient.demographics`` (the full record; the normalised
columns and the name/address tables are derived from it)."""
from __future__ import annotations

import datetime as _dt
import json
from typing import Any

from profiles.hl7v3.mpi import Address, Demographics, PersonName, Telecom


def demographics_to_json(d: Demographics) -> dict[str, Any]:
    return {
        "names": [{"family": n.family, "given": list(n.given), "prefix": n.prefix, "suffix": n.suffix,
                   "use": n.use, "qualifier": n.qualifier} for n in d.names],
        "birth_date": d.birth_date.isoformat() if d.birth_date else None,
        "gender": d.gender,
        "addresses": [{"street_lines": list(a.street_lines), "city": a.city, "postal_code": a.postal_code,
                       "state": a.state, "country": a.country, "use": a.use} for a in d.addresses],
        "telecoms": [{"value": t.value, "use": t.use} for t in d.telecoms],
        "mothers_maiden_name": d.mothers_maiden_name,
        "multiple_birth": d.multiple_birth,
        "multiple_birth_order": d.multiple_birth_order,
        "deceased": d.deceased,
        "deceased_date": d.deceased_date.isoformat() if d.deceased_date else None,
    }


def demographics_dumps(d: Demographics) -> str:
    """The JSON text of ``demographics`` (what the JSON column holds)."""
    return json.dumps(demographics_to_json(d), ensure_ascii=False, separators=(",", ":"))


def demographics_from_json(data: dict[str, Any] | str) -> Demographics:
    if isinstance(data, str):
        data = json.loads(data)
    return Demographics(
        names=tuple(PersonName(family=n.get("family", ""), given=tuple(n.get("given", ())),
                               prefix=n.get("prefix", ""), suffix=n.get("suffix", ""),
                               use=n.get("use", ""), qualifier=n.get("qualifier", ""))
                    for n in data.get("names", ())),
        birth_date=_dt.date.fromisoformat(data["birth_date"]) if data.get("birth_date") else None,
        gender=data.get("gender") or "U",
        addresses=tuple(Address(street_lines=tuple(a.get("street_lines", ())), city=a.get("city", ""),
                                postal_code=a.get("postal_code", ""), state=a.get("state", ""),
                                country=a.get("country", ""), use=a.get("use", ""))
                        for a in data.get("addresses", ())),
        telecoms=tuple(Telecom(value=t.get("value", ""), use=t.get("use", "")) for t in data.get("telecoms", ())),
        mothers_maiden_name=data.get("mothers_maiden_name", ""),
        multiple_birth=data.get("multiple_birth"),
        multiple_birth_order=data.get("multiple_birth_order"),
        deceased=data.get("deceased"),
        deceased_date=_dt.date.fromisoformat(data["deceased_date"]) if data.get("deceased_date") else None,
    )

