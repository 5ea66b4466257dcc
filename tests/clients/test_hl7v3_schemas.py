"""The HL7 V3 schemas behind pix.wsdl / pdq.wsdl: the normative NE2008 files, pruned to the served
interactions; the EPR-by-example messages and the gateway's own replies are valid against them; zeep
sees typed operations."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from lxml import etree

from profiles.ch.identifiers import EPR_SPID_OID
from soap.samples import SAMPLES

ROOT = Path(__file__).resolve().parents[2]
WSDL_DIR = ROOT / "wsdl"
HL7_DIR = WSDL_DIR / "schema" / "hl7v3"
NE2008 = HL7_DIR / "NE2008"
HL7 = "urn:hl7-org:v3"
SOAP = "{http://www.w3.org/2003/05/soap-envelope}"

SERVED = {  # endpoint -> {operation: (input element, output element)}
    "/pix": {"PIXManager_PRPA_IN201301UV02": ("PRPA_IN201301UV02", "MCCI_IN000002UV01"),
             "PIXManager_PRPA_IN201302UV02": ("PRPA_IN201302UV02", "MCCI_IN000002UV01"),
             "PIXManager_PRPA_IN201304UV02": ("PRPA_IN201304UV02", "MCCI_IN000002UV01"),
             "PIXManager_PRPA_IN201309UV02": ("PRPA_IN201309UV02", "PRPA_IN201310UV02")},
    "/pdq": {"PDQSupplier_PRPA_IN201305UV02": ("PRPA_IN201305UV02", "PRPA_IN201306UV02"),
             "PDQSupplier_QUQI_IN000003UV01_Continue": ("QUQI_IN000003UV01", "PRPA_IN201306UV02"),
             "PDQSupplier_QUQI_IN000003UV01_Cancel": ("QUQI_IN000003UV01", "MCCI_IN000002UV01")},
}


def _tool():
    spec = importlib.util.spec_from_file_location("vendor_hl7v3", ROOT / "schemas" / "vendor_hl7v3.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


def _schema() -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(HL7_DIR / "hl7v3-interactions.xsd"), parser))


SCHEMA = _schema()


def _body(name: str) -> etree._Element:
    env = etree.parse(str(SAMPLES / name)).getroot()
    return next(c for c in env.find(SOAP + "Body") if isinstance(c.tag, str))


# ------------------------------------------------------------------------------ the files

def test_the_files_are_exactly_what_the_served_interactions_include():
    tool = _tool()
    present = sorted(p.relative_to(NE2008).as_posix() for p in NE2008.rglob("*") if p.is_file())
    assert tool.closure(NE2008) == present
    wrapper = etree.parse(str(HL7_DIR / "hl7v3-interactions.xsd")).getroot()
    included = [i.get("schemaLocation") for i in wrapper.iter("{http://www.w3.org/2001/XMLSchema}include")]
    assert sorted(included) == sorted(f"NE2008/multicacheschemas/{n}.xsd" for n in tool.INTERACTIONS)
    served = {el for ops in SERVED.values() for pair in ops.values() for el in pair}
    assert served == set(tool.INTERACTIONS)


def test_vocabulary_is_pruned_to_what_the_other_files_use():
    tool = _tool()
    voc = etree.parse(str(NE2008 / "coreschemas" / "voc.xsd")).getroot()
    names = {t.get("name") for t in voc.iterchildren("{http://www.w3.org/2001/XMLSchema}simpleType")}
    assert names == tool.kept_vocabulary(voc, tool.referenced_outside_vocabulary(NE2008))
    assert {"NullFlavor", "ActClassControlAct", "EntityNameUse"} <= names
    assert len(names) < 400   # of ~2000 in the full NE2008 voc.xsd


def test_files_are_hl7s_without_the_redistributors_lines():
    for xsd in NE2008.rglob("*.xsd"):
        text = xsd.read_text(encoding="utf-8")
        assert "gematik" not in text, xsd
    assert "Health Level Seven" in (NE2008 / "coreschemas" / "datatypes-base.xsd").read_text()
    assert "Health Level Seven" in (HL7_DIR / "LICENSE-HL7.txt").read_text()


def test_no_stub_left():
    assert "xsd:any" not in (HL7_DIR / "hl7v3-interactions.xsd").read_text()
    assert not SCHEMA.validate(etree.fromstring(f'<PRPA_IN201309UV02 xmlns="{HL7}" ITSVersion="XML_1.0"/>'))


@pytest.mark.parametrize("name", ["ITI-44_request_raw.xml", "ITI-44_response_raw.xml", "ITI-45_request_raw.xml",
                                  "ITI-45_response_raw.xml", "ITI-47_request_raw.xml", "ITI-47_response_raw.xml"])
def test_epr_by_example_messages_are_valid(name):
    assert SCHEMA.validate(_body(name)), SCHEMA.error_log


def test_an_invalid_message_is_refused():
    msg = _body("ITI-45_request_raw.xml")
    msg.find(f"{{{HL7}}}creationTime").addprevious(etree.Element(f"{{{HL7}}}bogus"))
    assert not SCHEMA.validate(msg)


@pytest.mark.parametrize("endpoint", sorted(SERVED))
def test_wsdl_file_types_are_the_interactions_in_zeep(endpoint):
    import zeep
    client = zeep.Client(str(WSDL_DIR / (endpoint.strip("/") + ".wsdl")))
    _check_typed(client, SERVED[endpoint])


def _check_typed(client, operations: dict[str, tuple[str, str]]) -> None:
    binding = next(iter(client.wsdl.bindings.values()))
    assert set(binding._operations) == set(operations)
    for name, (inp, out) in operations.items():
        op = binding._operations[name]
        assert op.input.body.qname.text == f"{{{HL7}}}{inp}"
        assert op.output.body.qname.text == f"{{{HL7}}}{out}"
        for message in (op.input, op.output):
            signature = message.signature()
            assert "_value_1" not in signature and "ANY" not in signature.split("(")[0], signature
            assert "interactionId: ns0:II" in signature and "controlActProcess" in signature \
                or "acknowledgement" in signature, signature


# ------------------------------------------------------------------------------ served

@pytest.mark.integration
@pytest.mark.parametrize("endpoint", sorted(SERVED))
def test_served_wsdl_is_typed_in_zeep_default_settings(gateway_server, endpoint):
    import zeep
    client = zeep.Client(gateway_server.url(endpoint) + "?wsdl")
    assert client.settings.strict
    _check_typed(client, SERVED[endpoint])
    import requests
    wsdl = etree.fromstring(requests.get(gateway_server.url(endpoint) + "?wsdl", timeout=10).content)
    imports = [i.get("schemaLocation") for i in wsdl.iter("{http://www.w3.org/2001/XMLSchema}import")]
    # the zeep copy (schemas/expand_substitution_groups.py); the normative set is served beside it
    assert imports == [gateway_server.url(endpoint) + "?xsd=schema/expanded/hl7v3/hl7v3-interactions.xsd"]
    assert requests.get(gateway_server.url(endpoint), params={"xsd": "schema/hl7v3/hl7v3-interactions.xsd"},
                        timeout=10).status_code == 200


def _valid_ids(msg: etree._Element) -> etree._Element:
    """The MPI test helpers use ``9.9.9.x`` device ids, which HL7's ``oid`` pattern ([0-2]...) refuses."""
    return etree.fromstring(etree.tostring(msg).replace(b'"9.9.9.', b'"2.999.9.'))


@pytest.mark.integration
def test_the_gateways_replies_are_valid(gateway_server):
    sys.path.insert(0, str(ROOT / "tests" / "mpi"))
    from hl7v3_samples import feed, name_param, pdq_query, person_xml, pix_query, spid, wrapper

    from gateway.clients.soap import SoapClient
    hospital = "2.16.756.5.30.1.999.78"
    mpi = "2.16.756.5.30.1.999.1.1"
    sent = []

    def call(path: str, action: str, body: etree._Element) -> etree._Element:
        body = _valid_ids(body)
        sent.append(body)
        reply = SoapClient(gateway_server.url(path)).call(action, body).body
        assert SCHEMA.validate(reply), (action, SCHEMA.error_log, etree.tostring(reply)[:3000])
        return reply

    person = person_xml(family="Schemavalid", given="Sina", gender="F", birth="19700101")
    call("/pix", "urn:hl7-org:v3:PRPA_IN201301UV02",
         feed("PRPA_IN201301UV02", [(hospital, "S-1"), (EPR_SPID_OID, spid(777001))], person))
    call("/pix", "urn:hl7-org:v3:PRPA_IN201301UV02",
         feed("PRPA_IN201301UV02", [(hospital, "S-2"), (EPR_SPID_OID, spid(777002))], person))
    call("/pix", "urn:hl7-org:v3:PRPA_IN201302UV02", feed("PRPA_IN201302UV02", [(hospital, "S-1")], person))
    call("/pix", "urn:hl7-org:v3:PRPA_IN201309UV02", pix_query((hospital, "S-1"), [mpi, EPR_SPID_OID]))
    call("/pix", "urn:hl7-org:v3:PRPA_IN201309UV02", pix_query((hospital, "unknown"), [mpi]))   # AE, NF
    call("/pix", "urn:hl7-org:v3:PRPA_IN201309UV02", pix_query(("1.2.3.999", "x"), [mpi]))    # AE, unknown domain
    call("/pdq", "urn:hl7-org:v3:PRPA_IN201305UV02", pdq_query(name_param(family="Schemavalid")))
    call("/pdq", "urn:hl7-org:v3:PRPA_IN201305UV02", pdq_query(name_param(family="Schemavalid"),
                                                              query_id="sv-1", initial=1))
    inner = """<controlActProcess classCode="CACT" moodCode="EVN">
      <code code="PRPA_TE201306UV02" codeSystem="2.16.840.1.113883.1.6"/>
      <queryContinuation><queryId root="1.2.840.114350.1.13.28.1.18.5.999" extension="sv-1"/>
      <continuationQuantity value="1"/><statusCode code="{status}"/></queryContinuation></controlActProcess>"""
    call("/pdq", "urn:hl7-org:v3:QUQI_IN000003UV01_Continue",
         etree.fromstring(wrapper("QUQI_IN000003UV01", inner.format(status="waitContinuedQueryResponse"), "c1")))
    call("/pdq", "urn:hl7-org:v3:QUQI_IN000003UV01_Cancel",
         etree.fromstring(wrapper("QUQI_IN000003UV01", inner.format(status="aborted"), "c2")))
    call("/pdq", "urn:hl7-org:v3:PRPA_IN201305UV02", pdq_query(name_param(family="Nobody")))
    call("/pix", "urn:hl7-org:v3:PRPA_IN201304UV02",
         feed("PRPA_IN201304UV02", [(hospital, "S-1")], person, prior=(hospital, "S-2")))
    # the requests (but the add feeds, whose patient lacks the providerOrganization the
    # normative PRPA_MT201301UV02 requires and the gateway does not) are valid too
    for body in sent:
        if etree.QName(body).localname != "PRPA_IN201301UV02":
            assert SCHEMA.validate(body), (etree.QName(body).localname, SCHEMA.error_log)
