"""Helpers for the MPI tests: the EPR-by-example samples and small HL7 V3 message builders."""
from __future__ import annotations

from pathlib import Path

from lxml import etree

from profiles.ch.identifiers import gs1_check_digit

SAMPLES = Path(__file__).resolve().parents[1] / "vectors" / "epr-by-example" / "samples"
HL7 = "urn:hl7-org:v3"
NS = {"hl7": HL7}
SOAP_NS = "http://www.w3.org/2003/05/soap-envelope"

SAMPLE_COMMUNITY_OID = "1.3.6.1.4.1.21367.2017.2.5.93"   # the MPI-PID domain in the samples


def spid(n: int) -> str:
    body = f"76133761{n:09d}"
    return body + str(gs1_check_digit(body))


def sample_envelope(name: str) -> etree._Element:
    return etree.fromstring((SAMPLES / name).read_bytes())


def sample_body(name: str) -> etree._Element:
    env = sample_envelope(name)
    body = env.find(f"{{{SOAP_NS}}}Body")
    return next(c for c in body if isinstance(c.tag, str))


def shape(el: etree._Element, prefix: str = "") -> set[str]:
    """The set of element paths (local names) of a message: its shape."""
    name = prefix + "/" + etree.QName(el).localname
    out = {name}
    for c in el:
        if isinstance(c.tag, str):
            out |= shape(c, name)
    return out


def xp(el: etree._Element, path: str) -> list:
    return el.xpath(path, namespaces=NS)


def wrapper(interaction: str, inner: str, msg_id: str = "m1") -> bytes:
    return f"""<{interaction} xmlns="urn:hl7-org:v3" ITSVersion="XML_1.0">
  <id root="1.2.3.4.5" extension="{msg_id}"/>
  <creationTime value="20240101120000"/>
  <interactionId root="2.16.840.1.113883.1.6" extension="{interaction}"/>
  <processingCode code="P"/><processingModeCode code="T"/><acceptAckCode code="AL"/>
  <receiver typeCode="RCV"><device classCode="DEV" determinerCode="INSTANCE"><id root="9.9.9.1"/></device></receiver>
  <sender typeCode="SND"><device classCode="DEV" determinerCode="INSTANCE"><id root="9.9.9.2"/></device></sender>
  {inner}
</{interaction}>""".encode()


def person_xml(family="Muster", given="Maja", gender="F", birth="19600618", extra="") -> str:
    return f"""<patientPerson classCode="PSN" determinerCode="INSTANCE">
        <name><given>{given}</given><family>{family}</family></name>
        <administrativeGenderCode code="{gender}"/>
        <birthTime value="{birth}"/>
        <addr><streetAddressLine>Imfeldstrasse 24b</streetAddressLine><city>Wettingen</city>
              <postalCode>5430</postalCode><country>CH</country></addr>
        {extra}
      </patientPerson>"""


def feed(interaction: str, ids: list[tuple[str, str]], person: str | None = None, msg_id: str = "m1",
         prior: tuple[str, str] | None = None) -> etree._Element:
    id_xml = "".join(f'<id root="{r}" extension="{e}"/>' for r, e in ids)
    replacement = ""
    if prior is not None:
        replacement = f"""<replacementOf typeCode="RPLC"><priorRegistration classCode="REG" moodCode="EVN">
          <statusCode code="obsolete"/><subject1 typeCode="SBJ"><priorRegisteredRole classCode="PAT">
          <id root="{prior[0]}" extension="{prior[1]}"/></priorRegisteredRole></subject1>
          </priorRegistration></replacementOf>"""
    code = interaction.replace("IN", "TE")
    inner = f"""<controlActProcess classCode="CACT" moodCode="EVN">
    <code code="{code}" codeSystem="2.16.840.1.113883.1.6"/>
    <subject typeCode="SUBJ"><registrationEvent classCode="REG" moodCode="EVN"><statusCode code="active"/>
      <subject1 typeCode="SBJ"><patient classCode="PAT">{id_xml}<statusCode code="active"/>
      {person if person is not None else person_xml()}
      </patient></subject1>
      <custodian typeCode="CST"><assignedEntity classCode="ASSIGNED"><id root="9.9.9.3"/></assignedEntity></custodian>
      {replacement}
    </registrationEvent></subject></controlActProcess>"""
    return etree.fromstring(wrapper(interaction, inner, msg_id))


def pix_query(pid: tuple[str, str], data_sources: list[str], msg_id: str = "q1") -> etree._Element:
    ds = "".join(f'<dataSource><value root="{r}"/><semanticsText>DataSource.id</semanticsText></dataSource>'
                 for r in data_sources)
    inner = f"""<controlActProcess classCode="CACT" moodCode="EVN">
    <code code="PRPA_TE201309UV02" codeSystem="2.16.840.1.113883.1.6"/>
    <queryByParameter><queryId root="1.2.3" extension="{msg_id}"/><statusCode code="new"/>
    <responsePriorityCode code="I"/><parameterList>{ds}
    <patientIdentifier><value root="{pid[0]}" extension="{pid[1]}"/><semanticsText>Patient.id</semanticsText></patientIdentifier>
    </parameterList></queryByParameter></controlActProcess>"""
    return etree.fromstring(wrapper("PRPA_IN201309UV02", inner, msg_id))


def pdq_query(params: str, query_id: str = "pq1", initial: int | None = None, match: str = "") -> etree._Element:
    iq = f'<initialQuantity value="{initial}"/>' if initial is not None else ""
    inner = f"""<controlActProcess classCode="CACT" moodCode="EVN">
    <code code="PRPA_TE201305UV02" codeSystem="2.16.840.1.113883.1.6"/>
    <queryByParameter><queryId root="1.2.840.114350.1.13.28.1.18.5.999" extension="{query_id}"/>
    <statusCode code="new"/><responseModalityCode code="R"/><responsePriorityCode code="I"/>{iq}
    {match}<parameterList>{params}</parameterList></queryByParameter></controlActProcess>"""
    return etree.fromstring(wrapper("PRPA_IN201305UV02", inner, query_id))


def continuation(query_id: str, quantity: int | None = 1, status: str = "waitContinuedQueryResponse") -> etree._Element:
    q = f'<continuationQuantity value="{quantity}"/>' if quantity is not None else ""
    inner = f"""<controlActProcess classCode="CACT" moodCode="EVN">
    <code code="PRPA_TE201306UV02" codeSystem="2.16.840.1.113883.1.6"/>
    <queryContinuation><queryId root="1.2.840.114350.1.13.28.1.18.5.999" extension="{query_id}"/>
    <statusCode code="{status}"/>{q}</queryContinuation></controlActProcess>"""
    return etree.fromstring(wrapper("QUQI_IN000003UV01", inner, "c-" + query_id))


def name_param(family: str = "", given: str = "", use: str = "") -> str:
    u = f' use="{use}"' if use else ""
    g = f"<given>{given}</given>" if given else ""
    f = f"<family>{family}</family>" if family else ""
    return f"<livingSubjectName><value{u}>{g}{f}</value><semanticsText>LivingSubject.name</semanticsText></livingSubjectName>"


def ack_code(msg: etree._Element) -> str:
    return xp(msg, "hl7:acknowledgement/hl7:typeCode/@code")[0]


def details(msg: etree._Element) -> list[tuple[str, str, str]]:
    return [(d.findtext(f"{{{HL7}}}code") or d.find(f"{{{HL7}}}code").get("code"),
             d.findtext(f"{{{HL7}}}text") or "", d.findtext(f"{{{HL7}}}location") or "")
            for d in xp(msg, "hl7:acknowledgement/hl7:acknowledgementDetail")]
