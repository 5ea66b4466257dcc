"""Issue 4 end to end on the real gateway (`epd-gateway serve`): feed a patient with ITI-44, find him
with ITI-47, get his EPR-SPID with ITI-45, file a document for him with ITI-41 under the MPI-PID,
and find it with ITI-18."""
from __future__ import annotations

import pytest
from lxml import etree

from gateway.clients.soap import SoapClient
from gateway.clients.submission import DocumentSpec, provide_and_register_request
from gateway.soap.attachments import OutgoingAttachment
from profiles.ch.identifiers import EPR_SPID_OID
from profiles.xds import constants as C
from support.gateway_proc import make_gateway

from hl7v3_samples import ack_code, feed, name_param, pdq_query, person_xml, pix_query, spid, xp

MPI_OID = "2.16.756.5.30.1.999.1.1"
HOSPITAL = "2.16.756.5.30.1.999.77"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def gw(request, tmp_path_factory):
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_template_url")
        from support.db import truncate_all
        truncate_all(url)
    g = make_gateway(tmp_path_factory.mktemp("e2e"), url)
    g.start("--workers", "2")
    yield g
    g.stop()


def call(gw, path, action, body):
    return SoapClient(gw.base_url + path).call(action, body).body


def test_feed_find_crossreference_and_file(gw):
    the_spid = spid(424242)
    # ITI-44: the hospital feeds its patient with its local id and the EPR-SPID
    ack = call(gw, "/pix", "urn:hl7-org:v3:PRPA_IN201301UV02",
               feed("PRPA_IN201301UV02", [(HOSPITAL, "H-4711"), (EPR_SPID_OID, the_spid)],
                    person_xml(family="Brönnimann", given="Urs", gender="M", birth="19591224")))
    assert ack_code(ack) == "AA"
    # ITI-47: found by family name (accent-insensitive) and birth date; only MPI-PID and EPR-SPID returned
    found = call(gw, "/pdq", "urn:hl7-org:v3:PRPA_IN201305UV02",
                 pdq_query(name_param(family="Bronnimann") +
                           '<livingSubjectBirthTime><value value="19591224"/>'
                           '<semanticsText>LivingSubject.birthTime</semanticsText></livingSubjectBirthTime>'))
    assert ack_code(found) == "AA"
    ids = {(i.get("root"), i.get("extension")) for i in xp(found, "//hl7:subject1/hl7:patient/hl7:id")}
    assert (EPR_SPID_OID, the_spid) in ids
    mpi_ids = [ext for root, ext in ids if root == MPI_OID]
    assert len(mpi_ids) == 1 and len(ids) == 2
    mpi_pid = mpi_ids[0]
    # ITI-45: from the hospital's local id to the EPR-SPID and the MPI-PID
    xref = call(gw, "/pix", "urn:hl7-org:v3:PRPA_IN201309UV02",
                pix_query((HOSPITAL, "H-4711"), [MPI_OID, EPR_SPID_OID]))
    assert ack_code(xref) == "AA"
    got = {(i.get("root"), i.get("extension")) for i in xp(xref, "//hl7:subject1/hl7:patient/hl7:id")}
    assert got == {(MPI_OID, mpi_pid), (EPR_SPID_OID, the_spid)}
    # ITI-41: the document is filed under the MPI-PID (never the EPR-SPID)
    pid_cx = f"{mpi_pid}^^^&{MPI_OID}&ISO"
    doc = DocumentSpec(b"Austrittsbericht", mime_type="text/plain",
                       source_patient_id=f"H-4711^^^&{HOSPITAL}&ISO")
    body, parts = provide_and_register_request(pid_cx, [doc])
    rr = SoapClient(gw.repository_url).call(C.ACTION_ITI41, body,
                                            [OutgoingAttachment(c, m, data=d) for c, m, d in parts], mtom=True).body
    assert rr.get("status") == C.RESPONSE_SUCCESS, etree.tostring(rr)
    # ITI-18: the registry finds it for that patient
    q = etree.fromstring(f"""<query:AdhocQueryRequest xmlns:query="{C.NS_QUERY}" xmlns:rim="{C.NS_RIM}">
      <query:ResponseOption returnType="ObjectRef" returnComposedObjects="true"/>
      <rim:AdhocQuery id="urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d">
        <rim:Slot name="$XDSDocumentEntryPatientId"><rim:ValueList><rim:Value>'{pid_cx.replace("&", "&amp;")}'</rim:Value></rim:ValueList></rim:Slot>
        <rim:Slot name="$XDSDocumentEntryStatus"><rim:ValueList>
          <rim:Value>('{C.STATUS_APPROVED}')</rim:Value></rim:ValueList></rim:Slot>
      </rim:AdhocQuery></query:AdhocQueryRequest>""")
    answer = SoapClient(gw.registry_url).call(C.ACTION_ITI18, q).body
    assert answer.get("status") == C.RESPONSE_SUCCESS
    assert len(answer.findall(f"{{{C.NS_RIM}}}RegistryObjectList/{{{C.NS_RIM}}}ObjectRef")) == 1
    # filing under the EPR-SPID instead is refused
    body, parts = provide_and_register_request(f"{the_spid}^^^&{EPR_SPID_OID}&ISO", [DocumentSpec(b"x")])
    rr = SoapClient(gw.repository_url).call(C.ACTION_ITI41, body,
                                            [OutgoingAttachment(c, m, data=d) for c, m, d in parts], mtom=True).body
    assert rr.get("status") == C.RESPONSE_FAILURE
