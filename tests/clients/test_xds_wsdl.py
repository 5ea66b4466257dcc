"""The XDS.b WSDLs and schemas: as served by the gateway (lxml, zeep) and as files."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from lxml import etree

from gateway.clients.submission import DocumentSpec, provide_and_register_request, submit_objects_request
from gateway.clients.xds import SameOriginTransport
from profiles.xds import constants as C

ROOT = Path(__file__).resolve().parents[2]
WSDL_DIR = ROOT / "wsdl"
NS = {"wsdl": "http://schemas.xmlsoap.org/wsdl/", "soap12": "http://schemas.xmlsoap.org/wsdl/soap12/",
      "xsd": "http://www.w3.org/2001/XMLSchema", "wsaw": "http://www.w3.org/2006/05/addressing/wsdl",
      "wsam": "http://www.w3.org/2007/05/addressing/metadata", "wsp": "http://www.w3.org/ns/ws-policy",
      "wsoma": "http://www.w3.org/2007/08/soap12-mtom-policy"}

SERVICES = {
    "/xds/repository": ("xds-repository.wsdl", "DocumentRepository_Service", True, {
        C.ACTION_ITI41: C.ACTION_ITI41_RESPONSE, C.ACTION_ITI43: C.ACTION_ITI43_RESPONSE}),
    "/xds/registry": ("xds-registry.wsdl", "DocumentRegistry_Service", False, {
        C.ACTION_ITI42: C.ACTION_ITI42_RESPONSE, C.ACTION_ITI18: C.ACTION_ITI18_RESPONSE}),
}
ZEEP_SETTINGS = dict(strict=False, xml_huge_tree=False, forbid_dtd=True, forbid_entities=True)


def _safe_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


class _OriginResolver(etree.Resolver):
    """lxml resolver fetching schema imports from the gateway only (over HTTP, with requests)."""

    def __init__(self, origin: str) -> None:
        super().__init__()
        self.origin = origin
        self.fetched: list[str] = []

    def resolve(self, url, pubid, context):
        assert url.startswith(self.origin), f"schema import leaves the gateway: {url}"
        resp = requests.get(url, timeout=10)
        resp.raise_for_status()
        self.fetched.append(url)
        return self.resolve_string(resp.content, context, base_url=url)


def _check_wsdl(doc: etree._Element, service: str, mtom: bool, actions: dict[str, str]) -> None:
    assert doc.tag == "{%s}definitions" % NS["wsdl"]
    assert doc.get("targetNamespace") == C.NS_XDS
    assert doc.find(f"wsdl:service[@name='{service}']", NS) is not None
    binding = doc.find("wsdl:binding", NS)
    sb = binding.find("soap12:binding", NS)
    assert sb.get("style") == "document" and sb.get("transport") == "http://schemas.xmlsoap.org/soap/http"
    assert binding.find("wsaw:UsingAddressing", NS) is not None
    for op in binding.findall("wsdl:operation", NS):
        for io in ("input", "output"):
            assert op.find(f"wsdl:{io}/soap12:body", NS).get("use") == "literal"
    seen = {}
    for op in doc.findall("wsdl:portType/wsdl:operation", NS):
        inp, out = op.find("wsdl:input", NS), op.find("wsdl:output", NS)
        for el in (inp, out):
            assert el.get("{%s}Action" % NS["wsaw"]) == el.get("{%s}Action" % NS["wsam"]) != None  # noqa: E711
        seen[inp.get("{%s}Action" % NS["wsam"])] = out.get("{%s}Action" % NS["wsam"])
    assert seen == actions
    policy_ref = binding.find("wsp:PolicyReference", NS).get("URI").lstrip("#")
    policy = next(p for p in doc.findall("wsp:Policy", NS)
                  if p.get("{http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd}Id")
                  == policy_ref)
    assert (policy.find(".//wsoma:MTOM", NS) is not None) == mtom
    assert policy.find(".//wsam:Addressing", NS) is not None


# ---------------------------------------------------------------------------------------- files

@pytest.mark.parametrize("path", sorted(SERVICES))
def test_wsdl_files_are_well_formed_and_complete(path):
    name, service, mtom, actions = SERVICES[path]
    _check_wsdl(etree.parse(str(WSDL_DIR / name), _safe_parser()).getroot(), service, mtom, actions)


def test_schema_files_compile_offline():
    for xsd in sorted((WSDL_DIR / "schema").rglob("*.xsd")):
        etree.XMLSchema(etree.parse(str(xsd), _safe_parser()))


@pytest.mark.parametrize("path", sorted(SERVICES))
def test_wsdl_files_load_in_zeep_offline(path):
    import zeep
    client = zeep.Client(str(WSDL_DIR / SERVICES[path][0]), settings=zeep.Settings(forbid_external=True, **ZEEP_SETTINGS))
    ops = {op.abstract.wsa_action for port in client.wsdl.services[SERVICES[path][1]].ports.values()
           for op in port.binding._operations.values()}
    assert ops == set(SERVICES[path][3])


def test_builder_output_is_schema_valid():
    """The submission helpers produce messages valid against the served schemas."""
    xds_schema = etree.XMLSchema(etree.parse(str(WSDL_DIR / "schema/IHE/XDS.b_DocumentRepository.xsd")))
    lcm_schema = etree.XMLSchema(etree.parse(str(WSDL_DIR / "schema/ebRS/lcm.xsd")))
    pid = "abc^^^&2.16.756.5.30.1.999.1.1&ISO"
    docs = [DocumentSpec(b"one", mime_type="text/plain"), DocumentSpec(b"two", mime_type="application/pdf")]
    body, _ = provide_and_register_request(pid, docs, inline=True)
    xds_schema.assertValid(body)
    lcm_schema.assertValid(submit_objects_request(pid, docs, for_register=True))


# ------------------------------------------------------------------------------------ served

@pytest.mark.integration
@pytest.mark.parametrize("path", sorted(SERVICES))
def test_served_wsdl_and_schemas_load_in_lxml(gateway_server, path):
    name, service, mtom, actions = SERVICES[path]
    url = gateway_server.url(path)
    resp = requests.get(url + "?wsdl", timeout=10)
    assert resp.status_code == 200 and "xml" in resp.headers["content-type"]
    doc = etree.fromstring(resp.content, _safe_parser())
    _check_wsdl(doc, service, mtom, actions)
    assert [a.get("location") for a in doc.iterfind(".//soap12:address", NS)] == [url]

    # every schema reachable from the WSDL is served, parses, and the set compiles in lxml with
    # imports fetched from the gateway (and nowhere else)
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
    todo = [i.get("schemaLocation") for i in doc.iterfind(".//xsd:schema/xsd:import", NS)]
    assert todo and all(loc.startswith(url + "?xsd=") for loc in todo)
    seen: set[str] = set()
    while todo:
        loc = todo.pop()
        if loc in seen:
            continue
        seen.add(loc)
        r = requests.get(loc, timeout=10)
        assert r.status_code == 200, loc
        schema_doc = etree.fromstring(r.content, _safe_parser())
        assert schema_doc.tag == "{%s}schema" % NS["xsd"]
        for imp in schema_doc.iter("{%s}import" % NS["xsd"], "{%s}include" % NS["xsd"]):
            ref = imp.get("schemaLocation")
            assert ref and ref.startswith(url + "?xsd="), ref
            todo.append(ref)
    expected = {"rim.xsd", "rs.xsd", "xml.xsd", "lcm.xsd", "query.xsd"}
    if path == "/xds/repository":
        expected.add("XDS.b_DocumentRepository.xsd")
    assert {s.rsplit("/", 1)[-1] for s in seen} == expected
    # the WSDL imports the copies with substitution groups expanded (zeep); the official schemas
    # are served too, at their own paths, for validators
    assert all("?xsd=schema/expanded/" in s for s in seen), seen
    for official in ("schema/ebRS/rim.xsd", "schema/IHE/XDS.b_DocumentRepository.xsd"):
        assert requests.get(url, params={"xsd": official}, timeout=10).status_code == 200
    rim = requests.get(url, params={"xsd": "schema/ebRS/rim.xsd"}, timeout=10).content
    assert b'substitutionGroup="tns:Identifiable"' in rim

    for loc in seen:
        parser = etree.XMLParser(resolve_entities=False, load_dtd=False)
        resolver = _OriginResolver(origin)
        parser.resolvers.add(resolver)
        etree.XMLSchema(etree.fromstring(requests.get(loc, timeout=10).content, parser, base_url=loc))


@pytest.mark.integration
def test_served_xsd_paths_are_confined(gateway_server):
    for bad in ("../gateway/config.py", "schema/../../pyproject.toml", "nope.xsd"):
        assert requests.get(gateway_server.url("/xds/registry"), params={"xsd": bad}, timeout=10).status_code == 404


@pytest.mark.integration
@pytest.mark.parametrize("path", sorted(SERVICES))
def test_served_wsdl_loads_in_zeep(gateway_server, path):
    import zeep
    from zeep.exceptions import ExternalReferenceForbidden
    name, service, mtom, actions = SERVICES[path]
    url = gateway_server.url(path)
    transport = SameOriginTransport(url, timeout=10)
    client = zeep.Client(url + "?wsdl", transport=transport,
                         settings=zeep.Settings(forbid_external=False, **ZEEP_SETTINGS))
    port = next(iter(client.wsdl.services[service].ports.values()))
    assert port.binding_options["address"] == url
    assert {op.abstract.wsa_action for op in port.binding._operations.values()} == set(actions)

    # zeep's own forbid_external refuses even same-origin imports: why XdsClient uses SameOriginTransport
    with pytest.raises(ExternalReferenceForbidden):
        zeep.Client(url + "?wsdl", settings=zeep.Settings(forbid_external=True, **ZEEP_SETTINGS))
