"""The read side's findings of issue 14 against the real server on 127.0.0.1 (SQLite and PostgreSQL):
the limits of item 2 set through their EPD_ variables, and item 8 (LeafClass across patients)."""
from __future__ import annotations

import pytest

from gateway.clients.soap import SoapClient
from gateway.clients.submission import DocumentSpec, provide_and_register_request, retrieve_request
from gateway.config import Settings, load_settings
from gateway.soap.attachments import OutgoingAttachment
from profiles.xds import constants as C
from profiles.xds import query_catalogue as Q
from support.db import truncate_all
from support.gateway_proc import make_gateway

from query.registry_fixture import qlist

RS = "{%s}" % C.NS_RS
XDS = "{%s}" % C.NS_XDS
SPID, SPID2 = "761337610411353650", "761337610433933946"
REPO_ID = "2.16.756.5.30.1.999.1.2"  # the default repositoryUniqueId


def provide(gw, docs, patient=None):
    body, parts = provide_and_register_request(patient or gw.pid, docs)
    atts = [OutgoingAttachment(cid, mime, data=data) for cid, mime, data in parts]
    resp = SoapClient(gw.repository_url).call(C.ACTION_ITI41, body, atts, mtom=True)
    assert resp.action == C.ACTION_ITI41_RESPONSE
    return resp.body


def retrieve(gw, uids):
    resp = SoapClient(gw.repository_url).call(C.ACTION_ITI43, retrieve_request([(REPO_ID, u) for u in uids]),
                                              mtom=True)
    assert resp.action == C.ACTION_ITI43_RESPONSE
    return resp.body.find(RS + "RegistryResponse"), resp.body.findall(XDS + "DocumentResponse")


def status(rr):
    return rr.get("status").rsplit(":", 1)[-1]


def errors(rr):
    return [(e.get("errorCode"), e.get("codeContext")) for e in rr.iter(RS + "RegistryError")]


def codes(rr):
    return [e[0] for e in errors(rr)]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def limited(request, tmp_path_factory):
    """The real gateway with small read limits, two patients."""
    data = tmp_path_factory.mktemp("gw-limits")
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_template_url")
        truncate_all(url)
    gw = make_gateway(data, url, max_retrieve_documents="2", max_query_parameter_values="2")
    gw.pid = gw.add_patient(SPID)
    gw.pid2 = gw.add_patient(SPID2, "Other", "Otto")
    gw.start("--workers", "1")
    yield gw
    gw.stop()


def test_settings_defaults_and_environment():
    assert (Settings().max_query_parameter_values, Settings().max_retrieve_documents) == (1000, 1000)
    s = load_settings(env={"EPD_MAX_QUERY_PARAMETER_VALUES": "7", "EPD_MAX_RETRIEVE_DOCUMENTS": "9"})
    assert (s.max_query_parameter_values, s.max_retrieve_documents) == (7, 9)


def _query(gw, query_id, slots, return_type="LeafClass"):
    from query.registry_fixture import query_xml
    reply = SoapClient(gw.registry_url).call(C.ACTION_ITI18, query_xml(query_id, slots, return_type))
    assert reply.action == C.ACTION_ITI18_RESPONSE
    body = reply.body
    objects = body.find("{%s}RegistryObjectList" % C.NS_RIM)
    return (body.get("status"), [e.get("errorCode") for e in body.iter(RS + "RegistryError")],
            [e.get("codeContext") for e in body.iter(RS + "RegistryError")],
            [o.get("id") for o in objects] if objects is not None else [])


def test_documents_per_retrieve_limited(limited):
    docs = [DocumentSpec(f"doc {i}".encode(), mime_type="text/plain") for i in range(3)]
    assert provide(limited, docs).get("status") == C.RESPONSE_SUCCESS
    rr, got = retrieve(limited, [d.unique_id for d in docs[:2]])
    assert status(rr) == "Success" and len(got) == 2
    rr, got = retrieve(limited, [d.unique_id for d in docs])
    assert status(rr) == "Failure" and got == [] and codes(rr) == ["XDSRepositoryError"]
    assert "max_retrieve_documents" in errors(rr)[0][1]


def test_values_per_query_parameter_limited(limited):
    uids = [f"1.2.3.{i}" for i in range(3)]
    ok = _query(limited, Q.GET_DOCUMENTS, {"$XDSDocumentEntryUniqueId": qlist(uids[:2])}, "ObjectRef")
    assert ok[0] == C.RESPONSE_SUCCESS
    st, errs, texts, ids = _query(limited, Q.GET_DOCUMENTS, {"$XDSDocumentEntryUniqueId": qlist(uids)}, "ObjectRef")
    assert st == C.RESPONSE_FAILURE and errs == ["XDSRegistryError"] and ids == []
    assert "max_query_parameter_values" in texts[0] and "$XDSDocumentEntryUniqueId" in texts[0]


def test_leaf_class_across_patients_is_not_single_patient(limited):
    a = DocumentSpec(b"first patient", mime_type="text/plain")
    b = DocumentSpec(b"second patient", mime_type="text/plain")
    assert provide(limited, [a]).get("status") == C.RESPONSE_SUCCESS
    assert provide(limited, [b], patient=limited.pid2).get("status") == C.RESPONSE_SUCCESS
    both = {"$XDSDocumentEntryUniqueId": qlist([a.unique_id, b.unique_id])}
    st, errs, _, ids = _query(limited, Q.GET_DOCUMENTS, both)
    assert st == C.RESPONSE_FAILURE and errs == ["XDSResultNotSinglePatient"] and ids == []
    st, errs, _, ids = _query(limited, Q.GET_DOCUMENTS, both, "ObjectRef")
    assert st == C.RESPONSE_SUCCESS and len(ids) == 2
    st, _, _, ids = _query(limited, Q.GET_DOCUMENTS, {"$XDSDocumentEntryUniqueId": qlist([a.unique_id])})
    assert st == C.RESPONSE_SUCCESS and len(ids) == 1
    rr, got = retrieve(limited, [a.unique_id, b.unique_id])     # retrieve is not restricted to one patient
    assert status(rr) == "Success" and len(got) == 2
    assert REPO_ID == Settings().repository_unique_id
