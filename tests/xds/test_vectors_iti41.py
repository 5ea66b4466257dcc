"""The eHealth Suisse EPR-by-example ITI-41 capture (MTOM, signed XUA header) is accepted as a real
community accepts it, once the MPI knows its patient, and the answer has the sample response's shape."""
from __future__ import annotations

import io

import pytest
from lxml import etree

from gateway.clients.soap import SoapClient
from gateway.clients.submission import retrieve_request
from gateway.soap.message import decode_message
from profiles.xds import constants as C
from soap.samples import SAMPLES, iti41_mtom
from support.gateway_proc import make_gateway, post_raw

SAMPLE_MPI_OID = "1.3.6.1.4.1.12559.11.20.1"   # the assigning authority of the sample's patientId
SAMPLE_REPOSITORY = "2.16.756.5.30.1.999.1.2"
DOC_UNIQUE_ID = "2.25.267241352778226683619515102048382761723"


@pytest.fixture(scope="module")
def sample_gateway(tmp_path_factory):
    gw = make_gateway(tmp_path_factory.mktemp("vec"), mpi_oid=SAMPLE_MPI_OID)
    # the sample's FHIR bundle names the patient's EPR-SPID; the MPI-PID is kept as migrated
    gw.add_patient("761337610433933946", "Eméry", "Roman Remo", "--mpi-pid", "CHPAM3946")
    gw.start("--workers", "1")
    yield gw
    gw.stop()


def test_sample_iti41_is_accepted_and_answered_like_the_sample(sample_gateway):
    ctype, body, document = iti41_mtom(fix_wsse_prefix=True)
    status, rtype, reply = post_raw(sample_gateway.repository_url, body, ctype)
    assert status == 200, reply[:2000]
    assert rtype.startswith("multipart/related")  # MTOM asked, MTOM answered (as the sample)
    env = decode_message(rtype, io.BytesIO(reply)).envelope
    rr = env.find(f".//{{{C.NS_RS}}}RegistryResponse")
    assert rr.get("status") == C.RESPONSE_SUCCESS, etree.tostring(rr)
    action = env.findtext("{http://www.w3.org/2003/05/soap-envelope}Header/{http://www.w3.org/2005/08/addressing}Action")
    assert action == C.ACTION_ITI41_RESPONSE
    relates = env.findtext("{http://www.w3.org/2003/05/soap-envelope}Header/{http://www.w3.org/2005/08/addressing}RelatesTo")
    assert relates == "urn:uuid:073be420-d838-47c9-b35f-c59af5b147a2"
    # same shape as the captured response: an empty RegistryResponse in the Body
    sample = etree.parse(str(SAMPLES / "ITI-41_response.xml")).getroot()
    sample_rr = next(sample.iter(f"{{{C.NS_RS}}}RegistryResponse"))
    assert len(rr) == len(sample_rr) == 0
    # the document is retrievable byte for byte, with its mimeType
    resp = SoapClient(sample_gateway.repository_url).call(
        C.ACTION_ITI43, retrieve_request([(SAMPLE_REPOSITORY, DOC_UNIQUE_ID)]), mtom=True)
    dr = resp.body.find(f"{{{C.NS_XDS}}}DocumentResponse")
    assert dr.findtext(f"{{{C.NS_XDS}}}mimeType") == "application/fhir+json"
    assert [a.read() for a in resp.attachments.values()] == [document]
    # submitting it again is refused: the document uniqueId is registered
    status, _, reply = post_raw(sample_gateway.repository_url, body, ctype)
    assert b"XDSDuplicateUniqueIdInRegistry" in reply


def test_sample_as_captured_is_refused_cleanly(sample_gateway):
    """The capture lacks the xmlns:wsse declaration: not namespace-well-formed -> Sender fault, no trace."""
    ctype, body, _ = iti41_mtom(fix_wsse_prefix=False)
    status, _, reply = post_raw(sample_gateway.repository_url, body, ctype)
    assert status == 400 and b"Sender" in reply and b"Traceback" not in reply
