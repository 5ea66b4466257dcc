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
from zeep.plugins import HistoryPlugin
from zeep.wsa import WsAddressingPlugin

from gateway.clients.submission import DocumentSpec, provide_and_register_request
from gateway.clients.xds import XdsClient, response_status
from gateway.config import Settings
from profiles.ch.identifiers import EPR_SPID_OID, gs1_check_digit
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


def _xds_schema(folder: str) -> etree.XMLSchema:
    root = Path(__file__).resolve().parents[2] / "wsdl" / folder
    return etree.XMLSchema(etree.parse(str(root / "IHE" / "XDS.b_DocumentRepository.xsd")))


def test_iti18_find_documents_returns_typed_extrinsic_objects(gateway_server, registered):
    pid, docs = registered
    history = HistoryPlugin()
    client = zeep.Client(gateway_server.url("/xds/registry") + "?wsdl", plugins=[history])  # defaults: strict
    assert client.settings.strict
    response = _stored_query(client, FIND_DOCUMENTS, pid, "$XDSDocumentEntryStatus")
    # the reply as sent is valid against the official schemas and the expanded ones
    reply = history.last_received["envelope"].find("{http://www.w3.org/2003/05/soap-envelope}Body")[0]
    for folder in ("schema", "schema/expanded"):
        schema = _xds_schema(folder)
        assert schema.validate(reply), (folder, schema.error_log)
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
                        'pid = "d3b07384-d113-4ec6-a8d8-7c1e2b2f5f2a^^^&2.16.756.5.30.1.999.1.1&ISO"'):
        assert placeholder in code
    code = code.replace("http://127.0.0.1:8080", gateway_server.base_url).replace(
        "d3b07384-d113-4ec6-a8d8-7c1e2b2f5f2a^^^&2.16.756.5.30.1.999.1.1&ISO", pid)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    lines = out.getvalue().splitlines()
    assert lines[0] == C.RESPONSE_SUCCESS
    assert sorted(line.split()[1] for line in lines[1:]) == sorted(d.unique_id for d in docs)
    assert all("repositoryUniqueId" in line for line in lines[1:])


# --------------------------------------------------------------------------- PIX V3 / PDQ V3

MPI_OID = Settings().mpi_oid                   # the gateway's MPI-PID domain (default settings)
HOSPITAL = "2.16.756.5.30.1.999.79"


def _transmission(interaction: str, message_id: str) -> dict:
    """The HL7 V3 transmission wrapper fields, as zeep keyword arguments."""
    device = lambda root: {"classCode": "DEV", "determinerCode": "INSTANCE", "id": [{"root": root}]}  # noqa: E731
    return dict(ITSVersion="XML_1.0", id={"root": "2.999.7.1", "extension": message_id},
                creationTime={"value": "20240101120000"},
                interactionId={"root": "2.16.840.1.113883.1.6", "extension": interaction},
                processingCode={"code": "P"}, processingModeCode={"code": "T"}, acceptAckCode={"code": "AL"},
                receiver=[{"typeCode": "RCV", "device": device("2.999.7.2")}],
                sender={"typeCode": "SND", "device": device("2.999.7.3")})


def _feed_with_zeep(gateway_server, local: str, spid_body: str, given: str, family: str, birth: str) -> str:
    """ITI-44 (add) through zeep; returns the patient's EPR-SPID."""
    spid = spid_body + str(gs1_check_digit(spid_body))
    client = zeep.Client(gateway_server.url("/pix") + "?wsdl")
    ack = client.service.PIXManager_PRPA_IN201301UV02(
        **_transmission("PRPA_IN201301UV02", "feed-" + local),
        controlActProcess={
            "classCode": "CACT", "moodCode": "EVN",
            "code": {"code": "PRPA_TE201301UV02", "codeSystem": "2.16.840.1.113883.1.6"},
            "subject": [{"typeCode": "SUBJ", "registrationEvent": {
                "classCode": "REG", "moodCode": "EVN", "statusCode": {"code": "active"},
                "subject1": {"typeCode": "SBJ", "patient": {
                    "classCode": "PAT",
                    "id": [{"root": HOSPITAL, "extension": local}, {"root": EPR_SPID_OID, "extension": spid}],
                    "statusCode": {"code": "active"},
                    "patientPerson": {
                        "classCode": "PSN", "determinerCode": "INSTANCE",
                        "name": [{"_value_1": [{"given": given}, {"family": family}]}],
                        "administrativeGenderCode": {"code": "F"}, "birthTime": {"value": birth}},
                    "providerOrganization": {"classCode": "ORG", "determinerCode": "INSTANCE",
                                             "id": [{"root": HOSPITAL}], "contactParty": [{"classCode": "CON"}]}}},
                "custodian": {"typeCode": "CST", "assignedEntity": {"classCode": "ASSIGNED",
                                                                     "id": [{"root": HOSPITAL}]}}}}]})
    assert type(ack).__name__ == "MCCI_IN000002UV01"
    assert ack.acknowledgement[0].typeCode.code == "AA", ack.acknowledgement
    return spid


@pytest.fixture(scope="module")
def fed(gateway_server):
    """A patient fed with ITI-44 through zeep: returns (EPR-SPID, local id)."""
    return _feed_with_zeep(gateway_server, "Z-1", "76133761047790001", "Zélie", "Zeepmann", "19750505"), "Z-1"


def _pdq_query(client: zeep.Client, family: str, query_id: str, initial: int | None = None):
    query = {"queryId": {"root": "2.999.7.5", "extension": query_id}, "statusCode": {"code": "new"},
             "responseModalityCode": {"code": "R"}, "responsePriorityCode": {"code": "I"},
             "parameterList": {"livingSubjectName": [{"value": [{"_value_1": [{"family": family}]}],
                                                      "semanticsText": "LivingSubject.name"}]}}
    if initial is not None:
        query["initialQuantity"] = {"value": initial}
    return client.service.PDQSupplier_PRPA_IN201305UV02(
        **_transmission("PRPA_IN201305UV02", query_id),
        controlActProcess={"classCode": "CACT", "moodCode": "EVN",
                           "code": {"code": "PRPA_TE201305UV02", "codeSystem": "2.16.840.1.113883.1.6"},
                           "queryByParameter": query})


def _continuation(client: zeep.Client, operation: str, query_id: str, status: str, quantity: int | None):
    continuation = {"queryId": {"root": "2.999.7.5", "extension": query_id}, "statusCode": {"code": status}}
    if quantity is not None:
        continuation["continuationQuantity"] = {"value": quantity}
    return getattr(client.service, operation)(
        **_transmission("QUQI_IN000003UV01", "c-" + status + "-" + query_id),
        controlActProcess={"classCode": "CACT", "moodCode": "EVN",
                           "code": {"code": "PRPA_TE201306UV02", "codeSystem": "2.16.840.1.113883.1.6"},
                           "queryContinuation": continuation})


def test_iti47_continuation_and_cancel_with_zeep(gateway_server):
    spids = {_feed_with_zeep(gateway_server, f"F-{i}", f"7613376104780000{i}", given, "Zeepfolge", f"1980010{i}")
             for i, given in enumerate(("Anna", "Berta", "Clara"), start=1)}
    client = zeep.Client(gateway_server.url("/pdq") + "?wsdl")

    def spids_of(reply) -> set[str]:
        return {i.extension for s in reply.controlActProcess.subject
                for i in s.registrationEvent.subject1.patient.id if i.root == EPR_SPID_OID}

    first = _pdq_query(client, "Zeepfolge", "qc-1", initial=1)
    ack = first.controlActProcess.queryAck
    assert ack.queryResponseCode.code == "OK"
    assert (ack.resultTotalQuantity.value, ack.resultCurrentQuantity.value, ack.resultRemainingQuantity.value) \
        == (3, 1, 2)
    second = _continuation(client, "PDQSupplier_QUQI_IN000003UV01_Continue", "qc-1", "waitContinuedQueryResponse", 1)
    assert type(second).__name__ == "PRPA_IN201306UV02"
    assert second.controlActProcess.queryAck.resultRemainingQuantity.value == 1
    assert len(spids_of(first) | spids_of(second)) == 2 and (spids_of(first) | spids_of(second)) < spids
    cancelled = _continuation(client, "PDQSupplier_QUQI_IN000003UV01_Cancel", "qc-1", "aborted", None)
    assert type(cancelled).__name__ == "MCCI_IN000002UV01"
    assert cancelled.acknowledgement[0].typeCode.code == "AA"


def test_iti45_with_zeep_default_settings(gateway_server, fed):
    spid, local = fed
    client = zeep.Client(gateway_server.url("/pix") + "?wsdl")
    reply = client.service.PIXManager_PRPA_IN201309UV02(
        **_transmission("PRPA_IN201309UV02", "q-45"),
        controlActProcess={
            "classCode": "CACT", "moodCode": "EVN",
            "code": {"code": "PRPA_TE201309UV02", "codeSystem": "2.16.840.1.113883.1.6"},
            "queryByParameter": {
                "queryId": {"root": "2.999.7.4", "extension": "q-45"}, "statusCode": {"code": "new"},
                "responsePriorityCode": {"code": "I"},
                "parameterList": {
                    "dataSource": [{"value": [{"root": EPR_SPID_OID}], "semanticsText": "DataSource.id"},
                                   {"value": [{"root": MPI_OID}], "semanticsText": "DataSource.id"}],
                    "patientIdentifier": [{"value": [{"root": HOSPITAL, "extension": local}],
                                           "semanticsText": "Patient.id"}]}}})
    assert type(reply).__name__ == "PRPA_IN201310UV02"
    assert reply.acknowledgement[0].typeCode.code == "AA"
    cap = reply.controlActProcess
    assert cap.queryAck.queryResponseCode.code == "OK"
    patient = cap.subject[0].registrationEvent.subject1.patient
    assert type(patient).__name__ == "PRPA_MT201304UV02.Patient"
    ids = {i.root: i.extension for i in patient.id}
    assert ids[EPR_SPID_OID] == spid and ids[MPI_OID]
    # the query is echoed typed, its text intact
    assert cap.queryByParameter.parameterList.patientIdentifier[0].semanticsText._value_1 == "Patient.id"


def test_iti47_with_zeep_default_settings(gateway_server, fed):
    spid, _ = fed
    client = zeep.Client(gateway_server.url("/pdq") + "?wsdl")
    reply = client.service.PDQSupplier_PRPA_IN201305UV02(
        **_transmission("PRPA_IN201305UV02", "q-47"),
        controlActProcess={
            "classCode": "CACT", "moodCode": "EVN",
            "code": {"code": "PRPA_TE201305UV02", "codeSystem": "2.16.840.1.113883.1.6"},
            "queryByParameter": {
                "queryId": {"root": "2.999.7.5", "extension": "q-47"}, "statusCode": {"code": "new"},
                "responseModalityCode": {"code": "R"}, "responsePriorityCode": {"code": "I"},
                "parameterList": {
                    "livingSubjectName": [{"value": [{"_value_1": [{"family": "Zeepmann"}]}],
                                           "semanticsText": "LivingSubject.name"}],
                    "livingSubjectBirthTime": [{"value": [{"value": "19750505"}],
                                                "semanticsText": "LivingSubject.birthTime"}]}}})
    assert type(reply).__name__ == "PRPA_IN201306UV02"
    assert reply.acknowledgement[0].typeCode.code == "AA"
    cap = reply.controlActProcess
    assert cap.queryAck.queryResponseCode.code == "OK"
    assert len(cap.subject) == 1
    patient = cap.subject[0].registrationEvent.subject1.patient
    assert type(patient).__name__ == "PRPA_MT201310UV02.Patient"
    assert {i.root: i.extension for i in patient.id}[EPR_SPID_OID] == spid
    name = cap.queryByParameter.parameterList.livingSubjectName[0].value[0]
    assert [part["family"]._value_1 for part in name._value_1 if "family" in part] == ["Zeepmann"]
