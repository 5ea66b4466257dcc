"""Calling the gateway with zeep as an integrator would: ``zeep.Client(url + "?wsdl")`` with zeep's
default settings (strict mode), against the real server (README, "Calling the gateway with zeep")."""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
import zeep
from lxml import etree
from zeep.exceptions import Fault
from zeep.wsa import WsAddressingPlugin

from gateway.clients.submission import DocumentSpec, provide_and_register_request
from gateway.clients.xds import XdsClient, response_status
from profiles.xds import constants as C

pytestmark = pytest.mark.integration

FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
FIND_SUBMISSION_SETS = "urn:uuid:f26abbcb-ac74-4422-8a30-edb644bbc1a9"


@pytest.fixture(scope="module")
def registered(gateway_server):
    """A patient with two documents in one submission set (sent with the project's own client)."""
    pid = gateway_server.add_patient("761337610455909127", "Zeep", "Zora", birth_date="1975-05-05", gender="F")
    docs = [DocumentSpec(b"first", mime_type="text/plain", title="Eins"),
            DocumentSpec(b"%PDF-1.4 second", mime_type="application/pdf", title="Zwei")]
    with XdsClient(gateway_server.url("/xds/repository"), gateway_server.url("/xds/registry")) as xds:
        body, parts = provide_and_register_request(pid, docs)
        assert response_status(xds.provide_and_register(body, parts)) == C.RESPONSE_SUCCESS
    return pid, docs


def _slot(name: str, *values: str) -> dict:
    return {"name": name, "ValueList": {"_value_1": [{"Value": v} for v in values]}}


def _stored_query(client: zeep.Client, query_id: str, pid: str, status_slot: str, return_type="LeafClass"):
    return client.service.DocumentRegistry_RegistryStoredQuery(
        ResponseOption={"returnType": return_type, "returnComposedObjects": True},
        AdhocQuery={"id": query_id, "Slot": [_slot(status_slot.replace("Status", "PatientId"), f"'{pid}'"),
                                             _slot(status_slot, f"('{C.STATUS_APPROVED}')")]})


def _objects(response, kind: str) -> list:
    return [item[kind] for item in response.RegistryObjectList._value_1 if kind in item]


def test_iti18_find_documents_returns_typed_extrinsic_objects(gateway_server, registered):
    pid, docs = registered
    client = zeep.Client(gateway_server.url("/xds/registry") + "?wsdl")   # zeep's defaults: strict
    assert client.settings.strict
    response = _stored_query(client, FIND_DOCUMENTS, pid, "$XDSDocumentEntryStatus")
    assert response.status == C.RESPONSE_SUCCESS
    entries = _objects(response, "ExtrinsicObject")
    assert len(entries) == 2
    assert {type(e).__name__ for e in entries} == {"ExtrinsicObjectType"}
    assert sorted(e.mimeType for e in entries) == ["application/pdf", "text/plain"]
    for entry in entries:
        assert entry.objectType == C.DOC_ENTRY_STABLE
        assert entry.status == C.STATUS_APPROVED
        slots = {s.name: [v["Value"] for v in s.ValueList._value_1] for s in entry.Slot}
        assert slots["repositoryUniqueId"] and slots["hash"] and slots["size"]
        # nested types are complete too (zeep's recursive-extension bug is worked around)
        assert entry.Classification and all(c.id and c.classifiedObject == entry.id for c in entry.Classification)
        author = next(c for c in entry.Classification if c.classificationScheme == C.DE_AUTHOR)
        assert {s.name for s in author.Slot} >= {"authorPerson"}
        ids = {x.identificationScheme: x.value for x in entry.ExternalIdentifier}
        assert ids[C.DE_PATIENT_ID] == pid
        assert all(x.id and x.registryObject == entry.id for x in entry.ExternalIdentifier)
    assert sorted(e.Name._value_1[0]["LocalizedString"].value for e in entries) == ["Eins", "Zwei"]
    unique_ids = {x.value for e in entries for x in e.ExternalIdentifier
                  if x.identificationScheme == C.DE_UNIQUE_ID}
    assert unique_ids == {d.unique_id for d in docs}


def test_iti18_find_submission_sets_returns_typed_registry_packages(gateway_server, registered):
    pid, _ = registered
    client = zeep.Client(gateway_server.url("/xds/registry") + "?wsdl")
    response = _stored_query(client, FIND_SUBMISSION_SETS, pid, "$XDSSubmissionSetStatus")
    assert response.status == C.RESPONSE_SUCCESS
    packages = _objects(response, "RegistryPackage")
    assert len(packages) == 1 and type(packages[0]).__name__ == "RegistryPackageType"
    assert {x.identificationScheme: x.value for x in packages[0].ExternalIdentifier}[C.SS_PATIENT_ID] == pid


def test_iti18_object_refs(gateway_server, registered):
    pid, _ = registered
    client = zeep.Client(gateway_server.url("/xds/registry") + "?wsdl")
    response = _stored_query(client, FIND_DOCUMENTS, pid, "$XDSDocumentEntryStatus", return_type="ObjectRef")
    refs = _objects(response, "ObjectRef")
    assert len(refs) == 2 and all(r.id.startswith("urn:uuid:") for r in refs)


def test_iti18_unknown_query_is_a_registry_error_not_an_exception(gateway_server):
    client = zeep.Client(gateway_server.url("/xds/registry") + "?wsdl")
    response = client.service.DocumentRegistry_RegistryStoredQuery(
        ResponseOption={"returnType": "LeafClass", "returnComposedObjects": True},
        AdhocQuery={"id": "urn:uuid:00000000-0000-0000-0000-000000000000"})
    assert response.status == C.RESPONSE_FAILURE
    assert [e.errorCode for e in response.RegistryErrorList.RegistryError] == ["XDSUnknownStoredQuery"]


def test_zeep_sends_the_wsdl_addressing_headers_itself(gateway_server):
    """No plugin needed: the WSDL's wsaw:Action makes zeep add wsa:Action, MessageID and To."""
    client = zeep.Client(gateway_server.url("/xds/registry") + "?wsdl")
    envelope = client.create_message(client.service, "DocumentRegistry_RegistryStoredQuery",
                                     ResponseOption={"returnType": "ObjectRef"}, AdhocQuery={"id": FIND_DOCUMENTS})
    header = envelope.find("{http://www.w3.org/2003/05/soap-envelope}Header")
    wsa = "{http://www.w3.org/2005/08/addressing}"
    assert [etree.QName(h).localname for h in header if etree.QName(h).namespace == wsa[1:-1]] == [
        "Action", "MessageID", "To"]
    assert header.findtext(wsa + "Action") == C.ACTION_ITI18


def test_wsaddressing_plugin_repeats_the_headers_and_is_refused(gateway_server, registered):
    """zeep's documentation adds ``plugins=[WsAddressingPlugin()]``: with our WSDLs zeep already adds
    the headers, the plugin adds them a second time, and the gateway refuses the message (a
    repeated wsa:Action is not WS-Addressing). Documented in the README: leave the plugin out."""
    pid, _ = registered
    client = zeep.Client(gateway_server.url("/xds/registry") + "?wsdl", plugins=[WsAddressingPlugin()])
    with pytest.raises(Fault) as info:
        _stored_query(client, FIND_DOCUMENTS, pid, "$XDSDocumentEntryStatus")
    assert "Action" in info.value.message


def _readme_snippet() -> str:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Calling the gateway with zeep", 1)[1].split("\n## ", 1)[0]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_readme_snippet_runs_as_written(gateway_server, registered):
    """The README's zeep example, with only its two placeholders (gateway URL, MPI-PID) filled in."""
    pid, docs = registered
    code = _readme_snippet()
    for placeholder in ('registry = "http://127.0.0.1:8080/xds/registry"',
                        'pid = "4711^^^&2.16.756.5.30.1.999.1.1&ISO"'):
        assert placeholder in code
    code = code.replace("http://127.0.0.1:8080", gateway_server.base_url).replace(
        "4711^^^&2.16.756.5.30.1.999.1.1&ISO", pid)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    lines = out.getvalue().splitlines()
    assert lines[0] == C.RESPONSE_SUCCESS
    assert sorted(line.split()[1] for line in lines[1:]) == sorted(d.unique_id for d in docs)
    assert all("repositoryUniqueId" in line for line in lines[1:])
