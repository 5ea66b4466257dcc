"""patientPerson <-> :class:`profiles.hl7v3.mpi.Demographics` (PRPA_MT201301UV02 / 201310UV02)."""
from __future__ import annotations

from lxml import etree

from profiles.hl7v3.messages_catalogue import M
from profiles.hl7v3.messages import child, children, format_date, parse_ts_date, sub, text
from profiles.hl7v3.mpi import Address, Demographics, PersonName, Telecom

#: administrativeGenderCode -> MPI gender (HL7 AdministrativeGender; UN = undifferentiated).
GENDER_IN = {"M": "M", "F": "F", "UN": "O", "O": "O", "U": "U", "UNK": "U"}
GENDER_OUT = {"M": "M", "F": "F", "O": "UN", "U": ""}


def parse_gender(code: str | None, location: str) -> str:
    code = (code or "").strip().upper()
    if not code:
        return "U"
    if code not in GENDER_IN:
        raise M.GENDER_UNKNOWN.error(location, code=code)
    return GENDER_IN[code]


def parse_name(el: etree._Element) -> PersonName:
    family_el = child(el, "family")
    return PersonName(
        family=" ".join(text(f) for f in children(el, "family") if text(f)),
        given=tuple(text(g) for g in children(el, "given") if text(g)),
        prefix=" ".join(text(p) for p in children(el, "prefix") if text(p)),
        suffix=" ".join(text(s) for s in children(el, "suffix") if text(s)),
        use=el.get("use") or "",
        qualifier=(family_el.get("qualifier") or "") if family_el is not None else "",
    )


def parse_address(el: etree._Element) -> Address:
    street = [text(s) for s in children(el, "streetAddressLine") if text(s)]
    if not street:
        parts = [text(child(el, "streetName")), text(child(el, "houseNumber"))]
        joined = " ".join(p for p in parts if p)
        street = [joined] if joined else []
    return Address(street_lines=tuple(street), city=text(child(el, "city")),
                   postal_code=text(child(el, "postalCode")), state=text(child(el, "state")),
                   country=text(child(el, "country")), use=el.get("use") or "")


def parse_person(person: etree._Element, base: str) -> Demographics:
    """Demographics of a patientPerson; ``base`` is its XPath (for error locations)."""
    names = tuple(parse_name(n) for n in children(person, "name") if n.get("nullFlavor") is None)
    gender_el = child(person, "administrativeGenderCode")
    gender = parse_gender(gender_el.get("code") if gender_el is not None else None,
                          f"{base}/hl7:administrativeGenderCode")
    birth_el = child(person, "birthTime")
    birth = parse_ts_date(birth_el.get("value") if birth_el is not None else None, f"{base}/hl7:birthTime")
    addresses = tuple(a for a in (parse_address(e) for e in children(person, "addr")) if not a.is_empty())
    telecoms = tuple(Telecom(value=t.get("value") or "", use=t.get("use") or "")
                     for t in children(person, "telecom") if t.get("value"))
    mbi = child(person, "multipleBirthInd")
    multiple = None if mbi is None or mbi.get("value") is None else mbi.get("value") == "true"
    mbo = child(person, "multipleBirthOrderNumber")
    order = None
    if mbo is not None and mbo.get("value"):
        try:
            order = int(mbo.get("value"))
        except ValueError:
            raise M.BIRTH_ORDER_NOT_INTEGER.error(f"{base}/hl7:multipleBirthOrderNumber") from None
    dec = child(person, "deceasedInd")
    deceased = None if dec is None or dec.get("value") is None else dec.get("value") == "true"
    dtime = child(person, "deceasedTime")
    deceased_date = parse_ts_date(dtime.get("value") if dtime is not None else None, f"{base}/hl7:deceasedTime")
    mmn = ""
    for rel in children(person, "personalRelationship"):
        code = child(rel, "code")
        if code is not None and code.get("code") == "MTH":
            holder_name = child(rel, "relationshipHolder1", "name")
            if holder_name is not None:
                mmn = text(child(holder_name, "family")) or text(holder_name)
    return Demographics(names=names, birth_date=birth, gender=gender, addresses=addresses, telecoms=telecoms,
                        mothers_maiden_name=mmn, multiple_birth=multiple, multiple_birth_order=order,
                        deceased=deceased, deceased_date=deceased_date)


def build_person(parent: etree._Element, d: Demographics) -> etree._Element:
    """Append a patientPerson for ``d`` under ``parent``."""
    person = sub(parent, "patientPerson", classCode="PSN", determinerCode="INSTANCE")
    if not d.names:
        sub(person, "name", nullFlavor="NA")
    for n in d.names:
        name = sub(person, "name", use=n.use)
        for g in n.given:
            sub(name, "given", g)
        if n.family:
            sub(name, "family", n.family, qualifier=n.qualifier)
        if n.prefix:
            sub(name, "prefix", n.prefix)
        if n.suffix:
            sub(name, "suffix", n.suffix)
    for t in d.telecoms:
        sub(person, "telecom", value=t.value, use=t.use)
    gender = GENDER_OUT.get(d.gender, "")
    if gender:
        sub(person, "administrativeGenderCode", code=gender, codeSystem="2.16.840.1.113883.5.1")
    else:
        sub(person, "administrativeGenderCode", nullFlavor="UNK")
    if d.birth_date:
        sub(person, "birthTime", value=format_date(d.birth_date))
    if d.deceased is not None:
        sub(person, "deceasedInd", value="true" if d.deceased else "false")
    if d.deceased_date:
        sub(person, "deceasedTime", value=format_date(d.deceased_date))
    if d.multiple_birth is not None:
        sub(person, "multipleBirthInd", value="true" if d.multiple_birth else "false")
    if d.multiple_birth_order is not None:
        sub(person, "multipleBirthOrderNumber", value=str(d.multiple_birth_order))
    for a in d.addresses:
        addr = sub(person, "addr", use=a.use)
        for line in a.street_lines:
            sub(addr, "streetAddressLine", line)
        for local, value in (("city", a.city), ("state", a.state), ("postalCode", a.postal_code),
                             ("country", a.country)):
            if value:
                sub(addr, local, value)
    if d.mothers_maiden_name:
        rel = sub(person, "personalRelationship", classCode="PRS")
        sub(rel, "code", code="MTH", codeSystem="2.16.840.1.113883.5.111")
        holder = sub(rel, "relationshipHolder1", classCode="PSN", determinerCode="INSTANCE")
        hname = sub(holder, "name")
        sub(hname, "family", d.mothers_maiden_name, qualifier="BR")
    return person

