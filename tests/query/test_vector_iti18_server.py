"""The eHealth Suisse ITI-18 capture (FindDocuments by patient, XUA header) replayed against the real
server, once the MPI knows its patient; the answer has the sample response's shape."""
from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from gateway.clients.soap import SoapClient
from gateway.clients.submission import DocumentSpec, provide_and_register_request
from gateway.soap.attachments import OutgoingAttachment
from profiles.xds import constants as C
from support.gateway_proc import make_gateway, post_raw

SAMPLES = Path(__file__).resolve().parents[1] / "vectors" / "epr-by-example" / "samples"
SAMPLE_OID = "1.3.6.1.4.1.21367.2017.2.5.45"
SAMPLE_PID = "7e1c6e78-58f1-4a43-ae88-0d5a5c4ab43e"
HOME = "urn:oid:2.16.756.5.30.1.999.1"
Q = "{%s}" % C.NS_QUERY
R = "{%s}" % C.NS_RIM


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    g = make_gateway(tmp_path_factory.mktemp("iti18"), mpi_oid=SAMPLE_OID)
    g.add_patient("761337610411353650", "Muster", "Anna", "--mpi-pid", SAMPLE_PID)
    g.start("--workers", "1")
    g.docs = [DocumentSpec(b"one"), DocumentSpec(b"two", mime_type="text/plain")]
    body, parts = provide_and_register_request(f"{SAMPLE_PID}^^^&{SAMPLE_OID}&ISO", g.docs)
    resp = SoapClient(g.repository_url).call(C.ACTION_ITI41, body,
                                             [OutgoingAttachment(c, m, data=d) for c, m, d in parts], mtom=True)
    assert resp.body.get("status") == C.RESPONSE_SUCCESS
    yield g
    g.stop()


@pytest.mark.parametrize("return_type", ["ObjectRef", "LeafClass"])
def test_sample_find_documents(gw, return_type):
    raw = (SAMPLES / "ITI-18_request_raw.xml").read_bytes()
    raw = raw.replace(b'returnType="ObjectRef"', f'returnType="{return_type}"'.encode())
    status, _, reply = post_raw(gw.registry_url, raw)
    assert status == 200, reply[:1500]
    env = etree.fromstring(reply)
    resp = next(env.iter(Q + "AdhocQueryResponse"))
    assert resp.get("status") == C.RESPONSE_SUCCESS
    sample = next(etree.parse(str(SAMPLES / "ITI-18_response_raw.xml")).getroot().iter(Q + "AdhocQueryResponse"))
    assert [c.tag for c in resp] == [c.tag for c in sample]  # RegistryObjectList, like the sample
    rol = resp.find(R + "RegistryObjectList")
    if return_type == "ObjectRef":
        refs = rol.findall(R + "ObjectRef")
        assert len(refs) == 2 and all(r.get("id", "").startswith("urn:uuid:") for r in refs)
    else:
        eos = rol.findall(R + "ExtrinsicObject")
        assert len(eos) == 2
        assert {e.get("home") for e in eos} == {HOME}
        assert {e.get("status") for e in eos} == {C.STATUS_APPROVED}
        uids = {ei.get("value") for e in eos for ei in e.findall(R + "ExternalIdentifier")
                if ei.get("identificationScheme") == C.DE_UNIQUE_ID}
        assert uids == {d.unique_id for d in gw.docs}
