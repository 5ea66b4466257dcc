"""ITI-41 / ITI-42 / ITI-43 against the real server on 127.0.0.1 (SQLite and PostgreSQL)."""
from __future__ import annotations


import pytest
from lxml import etree

from gateway.clients.soap import SoapClient, SoapFaultError
from gateway.clients.submission import (DocumentSpec, provide_and_register_request, retrieve_request,
                                        submit_objects_request)
from gateway.soap.attachments import OutgoingAttachment
from profiles.xds import constants as C
from support.gateway_proc import post_raw

RS = "{%s}" % C.NS_RS
XDS = "{%s}" % C.NS_XDS
REPO_ID = "2.16.756.5.30.1.999.1.2"  # the default repositoryUniqueId


def provide(gw, docs, patient=None, inline=False, **kw):
    body, parts = provide_and_register_request(patient or gw.pid, docs, inline=inline, **kw)
    atts = [OutgoingAttachment(cid, mime, data=data) for cid, mime, data in parts]
    resp = SoapClient(gw.repository_url).call(C.ACTION_ITI41, body, atts, mtom=not inline)
    assert resp.action == C.ACTION_ITI41_RESPONSE
    return resp.body


def register(gw, sor):
    resp = SoapClient(gw.registry_url).call(C.ACTION_ITI42, sor)
    assert resp.action == C.ACTION_ITI42_RESPONSE
    return resp.body


def retrieve(gw, uids, repo=REPO_ID):
    resp = SoapClient(gw.repository_url).call(C.ACTION_ITI43, retrieve_request([(repo, u) for u in uids]), mtom=True)
    assert resp.action == C.ACTION_ITI43_RESPONSE
    docs = {}
    for dr in resp.body.findall(XDS + "DocumentResponse"):
        inc = dr.find(f"{XDS}Document/{{{C.NS_XOP}}}Include")
        cid = inc.get("href")[4:]
        from urllib.parse import unquote
        docs[dr.findtext(XDS + "DocumentUniqueId")] = (dr.findtext(XDS + "mimeType"), resp.attachments[unquote(cid)].read())
    return resp.body.find(RS + "RegistryResponse"), docs


def status(rr):
    return rr.get("status").rsplit(":", 1)[-1]


def errors(rr):
    return [(e.get("errorCode"), e.get("codeContext"), e.get("location"))
            for e in rr.iter(RS + "RegistryError")]


def codes(rr):
    return sorted({e[0] for e in errors(rr)})


def test_provide_and_retrieve_mtom_round_trip(gateway):
    docs = [DocumentSpec(b"%PDF-1.4 first" * 100, mime_type="application/pdf"),
            DocumentSpec("Zweites Dokument, äöü".encode(), mime_type="text/plain")]
    rr = provide(gateway, docs)
    assert status(rr) == "Success", errors(rr)
    rr, got = retrieve(gateway, [d.unique_id for d in docs])
    assert status(rr) == "Success"
    assert got == {d.unique_id: (d.mime_type, d.content) for d in docs}


def test_inline_base64_is_accepted(gateway):
    d = DocumentSpec(b"inline content")
    assert status(provide(gateway, [d], inline=True)) == "Success"
    assert retrieve(gateway, [d.unique_id])[1][d.unique_id] == (d.mime_type, b"inline content")


def test_retrieve_partial_success_and_unknown_repository(gateway):
    d = DocumentSpec(b"partial")
    assert status(provide(gateway, [d])) == "Success"
    rr, got = retrieve(gateway, [d.unique_id, "1.2.3.4.5.404"])
    assert status(rr) == "PartialSuccess"
    assert codes(rr) == ["XDSDocumentUniqueIdError"]
    assert errors(rr)[0][2] == "1.2.3.4.5.404"
    assert list(got) == [d.unique_id]
    rr, got = retrieve(gateway, [d.unique_id], repo="1.2.3.999")
    assert status(rr) == "Failure" and codes(rr) == ["XDSUnknownRepositoryId"] and not got


def test_supplied_hash_or_size_mismatch_is_refused(gateway):
    d = DocumentSpec(b"real content", extra_slots={"hash": ["0" * 40]})
    rr = provide(gateway, [d])
    assert status(rr) == "Failure" and codes(rr) == ["XDSRepositoryMetadataError"]
    d = DocumentSpec(b"real content 2", extra_slots={"size": ["3"]})
    rr = provide(gateway, [d])
    assert status(rr) == "Failure" and codes(rr) == ["XDSRepositoryMetadataError"]
    _, got = retrieve(gateway, [d.unique_id])
    assert got == {}


def test_matching_hash_and_size_are_accepted(gateway):
    d = DocumentSpec(b"hash given", include_hash=True)
    assert status(provide(gateway, [d])) == "Success"


def test_missing_document_and_missing_metadata(gateway):
    d1, d2 = DocumentSpec(b"one"), DocumentSpec(b"two")
    body, parts = provide_and_register_request(gateway.pid, [d1, d2])
    # drop the second xds:Document: its metadata has no document
    body.remove(body.findall(XDS + "Document")[1])
    resp = SoapClient(gateway.repository_url).call(
        C.ACTION_ITI41, body, [OutgoingAttachment(parts[0][0], parts[0][1], data=parts[0][2])], mtom=True)
    assert codes(resp.body) == ["XDSMissingDocument"]
    body, parts = provide_and_register_request(gateway.pid, [d1])
    extra = etree.SubElement(body, XDS + "Document", id="urn:uuid:00000000-0000-4000-8000-000000000001")
    extra.text = "aGVsbG8="
    resp = SoapClient(gateway.repository_url).call(
        C.ACTION_ITI41, body, [OutgoingAttachment(parts[0][0], parts[0][1], data=parts[0][2])], mtom=True)
    assert codes(resp.body) == ["XDSMissingDocumentMetadata"]
    assert retrieve(gateway, [d1.unique_id, d2.unique_id])[1] == {}


def test_unknown_patient_and_patient_mismatch(gateway):
    rr = provide(gateway, [DocumentSpec(b"x")], patient="NOPE^^^&2.16.756.5.30.1.999.1.1&ISO")
    assert codes(rr) == ["XDSUnknownPatientId"]
    rr = provide(gateway, [DocumentSpec(b"x")], patient="123^^^&1.2.3.4&ISO")
    assert codes(rr) == ["XDSUnknownPatientId"]
    body, parts = provide_and_register_request(gateway.pid, [DocumentSpec(b"mismatch")])
    ei = [e for e in body.iter(C.rim("ExternalIdentifier")) if e.get("identificationScheme") == C.DE_PATIENT_ID][0]
    ei.set("value", gateway.pid2)
    resp = SoapClient(gateway.repository_url).call(
        C.ACTION_ITI41, body, [OutgoingAttachment(c, m, data=d) for c, m, d in parts], mtom=True)
    assert "XDSPatientIdDoesNotMatch" in codes(resp.body)


def test_epr_spid_as_patient_id_is_refused(gateway):
    rr = provide(gateway, [DocumentSpec(b"x")], patient="761337610411353650^^^&2.16.756.5.30.1.127.3.10.3&ISO")
    assert status(rr) == "Failure"
    assert "XDSRegistryMetadataError" in codes(rr) or "XDSUnknownPatientId" in codes(rr)
    assert any("EPR-SPID" in e[1] for e in errors(rr))


def test_rplc_deprecates_and_keeps_the_old_version_retrievable(gateway):
    v1 = DocumentSpec(b"version 1")
    assert status(provide(gateway, [v1])) == "Success"
    v2 = DocumentSpec(b"version 2", replaces=v1.entry_id)
    assert status(provide(gateway, [v2])) == "Success", errors(provide)
    _, got = retrieve(gateway, [v1.unique_id, v2.unique_id])
    assert got[v1.unique_id][1] == b"version 1" and got[v2.unique_id][1] == b"version 2"
    # the old version is Deprecated: replacing it again fails
    v3 = DocumentSpec(b"version 3", replaces=v1.entry_id)
    rr = provide(gateway, [v3])
    assert codes(rr) == ["XDSRegistryError"]
    # a replacement across patients is refused
    other = DocumentSpec(b"other patient's", replaces=v2.entry_id)
    rr = provide(gateway, [other], patient=gateway.pid2)
    assert "XDSPatientIdDoesNotMatch" in codes(rr)
    # an unknown target is refused
    rr = provide(gateway, [DocumentSpec(b"x", replaces="urn:uuid:11111111-1111-4111-8111-111111111111")])
    assert codes(rr) == ["XDSRegistryError"]


def test_register_iti42_and_non_identical_hash(gateway):
    d = DocumentSpec(b"registered elsewhere")
    rr = register(gateway, submit_objects_request(gateway.pid, [d], for_register=True, repository_unique_id="1.2.3.77"))
    assert status(rr) == "Success", errors(rr)
    again = DocumentSpec(b"different bytes, same uniqueId", unique_id=d.unique_id)
    rr = register(gateway, submit_objects_request(gateway.pid, [again], for_register=True))
    assert codes(rr) == ["XDSNonIdenticalHash"]
    # an identical resubmission (same uniqueId, hash and size) is accepted: IHE, NIST XDS test 12004
    # (issue 14 item 9); both entries are found by queries
    same = DocumentSpec(b"registered elsewhere", unique_id=d.unique_id)
    rr = register(gateway, submit_objects_request(gateway.pid, [same], for_register=True,
                                                  repository_unique_id="1.2.3.77"))
    assert status(rr) == "Success", errors(rr)
    found = get_documents(gateway, d.unique_id)
    assert len(found) == 2 and len({eo.get("id") for eo in found}) == 2


def test_identical_iti41_resubmission_is_accepted_and_retrievable(gateway):
    d = DocumentSpec(b"provided twice")
    assert status(provide(gateway, [d])) == "Success"
    rr = provide(gateway, [DocumentSpec(b"provided twice", unique_id=d.unique_id)])
    assert status(rr) == "Success", errors(rr)
    assert len(get_documents(gateway, d.unique_id)) == 2
    rr, docs = retrieve(gateway, [d.unique_id])
    assert status(rr) == "Success" and docs[d.unique_id][1] == b"provided twice"
    rr = provide(gateway, [DocumentSpec(b"provided, but other bytes", unique_id=d.unique_id)])
    assert codes(rr) == ["XDSNonIdenticalHash"]
    assert len(get_documents(gateway, d.unique_id)) == 2


def get_documents(gw, unique_id):
    """ITI-18 GetDocuments by uniqueId (LeafClass): the ExtrinsicObjects found."""
    req = etree.Element(f"{{{C.NS_QUERY}}}AdhocQueryRequest", nsmap={"query": C.NS_QUERY, "rim": C.NS_RIM})
    etree.SubElement(req, f"{{{C.NS_QUERY}}}ResponseOption", returnType="LeafClass", returnComposedObjects="true")
    aq = etree.SubElement(req, C.rim("AdhocQuery"), id="urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4")
    slot = etree.SubElement(aq, C.rim("Slot"), name="$XDSDocumentEntryUniqueId")
    etree.SubElement(etree.SubElement(slot, C.rim("ValueList")), C.rim("Value")).text = f"('{unique_id}')"
    resp = SoapClient(gw.registry_url).call(C.ACTION_ITI18, req)
    assert resp.body.get("status").endswith("Success"), etree.tostring(resp.body)
    return resp.body.findall(f".//{C.rim('ExtrinsicObject')}")


def test_register_requires_hash_size_repository(gateway):
    sor = submit_objects_request(gateway.pid, [DocumentSpec(b"x")], for_register=False)
    rr = register(gateway, sor)
    assert status(rr) == "Failure"
    ctx = " ".join(e[1] for e in errors(rr))
    assert "hash" in ctx and "size" in ctx and "repositoryUniqueId" in ctx


def test_several_errors_are_reported_together(gateway):
    d = DocumentSpec(b"x", class_code=("nope", "1.2.3"), language_code="xx-XX", creation_time="2023-01-01")
    rr = provide(gateway, [d])
    ctx = [e[1] for e in errors(rr)]
    assert len(ctx) >= 3
    assert any("classCode" in c for c in ctx) and any("languageCode" in c for c in ctx)
    assert any("creationTime" in c for c in ctx)


def test_symbolic_ids_are_resolved_to_uuids(gateway):
    d = DocumentSpec(b"symbolic", entry_id="Document01")
    assert status(provide(gateway, [d])) == "Success"


def test_sample_vector_shape_of_response(gateway):
    """The answer to ITI-41 has the sample response's shape: a bare RegistryResponse."""
    rr = provide(gateway, [DocumentSpec(b"shape")])
    assert rr.tag == RS + "RegistryResponse" and len(rr) == 0


def test_faults_unknown_action_wrong_type_malformed(gateway):
    with pytest.raises(SoapFaultError) as exc:
        SoapClient(gateway.repository_url).call("urn:ihe:iti:2007:Nope", etree.Element("x"))
    assert "ActionNotSupported" in (exc.value.subcode or "")
    st, _, body = post_raw(gateway.repository_url, b"<a>", "application/soap+xml")
    assert st == 400 and b"Traceback" not in body and b"Fault" in body
    st, _, body = post_raw(gateway.repository_url, b"hello", "text/plain")
    assert st == 415 and b"Fault" in body
    # ITI-42 action on a body that is not a SubmitObjectsRequest: Sender fault
    with pytest.raises(SoapFaultError) as exc:
        SoapClient(gateway.registry_url).call(C.ACTION_ITI42, etree.Element("{urn:x}y"))
    assert exc.value.code.endswith("Sender")


def blob_files(gw):
    return sorted(p.name for p in (gw.data_dir / "blobs").glob("??/??/*") if p.is_file())


def test_an_invalid_submission_writes_no_blob(gateway):
    """ITI-41 in its natural order: the checks that need no database (IHE rules, annex 3, hash and
    size of each attachment) run before any blob is written (issue 9)."""
    before = blob_files(gateway)
    bad_code = DocumentSpec(b"invalid metadata, never stored " + gateway.pid.encode(), class_code=("nope", "1.2.3"))
    rr = provide(gateway, [bad_code])
    assert status(rr) == "Failure" and "XDSRegistryMetadataError" in codes(rr)
    wrong_hash = DocumentSpec(b"hash that does not match " + gateway.pid.encode(), include_hash=True)
    body, parts = provide_and_register_request(gateway.pid, [wrong_hash])
    for slot in body.iter(C.rim("Slot")):
        if slot.get("name") == "hash":
            slot.find(f"{C.rim('ValueList')}/{C.rim('Value')}").text = "0" * 40
    resp = SoapClient(gateway.repository_url).call(
        C.ACTION_ITI41, body, [OutgoingAttachment(c, m, data=d) for c, m, d in parts], mtom=True)
    assert codes(resp.body) == ["XDSRepositoryMetadataError"]
    unknown_patient = DocumentSpec(b"for nobody " + gateway.pid.encode())
    rr = provide(gateway, [unknown_patient], patient="NOPE^^^&2.16.756.5.30.1.999.1.1&ISO")
    assert codes(rr) == ["XDSUnknownPatientId"]
    assert blob_files(gateway) == before
    ok = DocumentSpec(b"valid, stored " + gateway.pid.encode())
    assert status(provide(gateway, [ok])) == "Success"
    assert len(blob_files(gateway)) == len(before) + 1


def test_a_mime_part_nothing_refers_to_is_missing_document_metadata(gateway):
    """Issue 14 item 6: an attachment no xds:Document refers to is a document without metadata."""
    d = DocumentSpec(b"with a stray part")
    body, parts = provide_and_register_request(gateway.pid, [d])
    atts = [OutgoingAttachment(c, m, data=data) for c, m, data in parts]
    atts.append(OutgoingAttachment("stray-part@epd-test", "application/pdf", data=b"%PDF-1.4 no metadata"))
    resp = SoapClient(gateway.repository_url).call(C.ACTION_ITI41, body, atts, mtom=True)
    assert status(resp.body) == "Failure" and codes(resp.body) == ["XDSMissingDocumentMetadata"]
    assert any("stray-part@epd-test" in e[1] for e in errors(resp.body))
    assert retrieve(gateway, [d.unique_id])[1] == {}


def test_too_many_objects_in_one_submission_is_refused(gateway):
    """Issue 14 item 2: more registry objects than max_submission_objects (default 2000) ->
    XDSRegistryError naming the limit, nothing stored."""
    docs = [DocumentSpec(f"doc {i}".encode()) for i in range(1001)]   # 1001 entries + 1001 HasMember + 1 set
    sor = submit_objects_request(gateway.pid, docs, for_register=True)
    rr = register(gateway, sor)
    assert status(rr) == "Failure" and codes(rr) == ["XDSRegistryError"]
    assert any("2000" in e[1] and "max_submission_objects" in e[1] for e in errors(rr))
    assert get_documents(gateway, docs[0].unique_id) == []


def test_an_attachment_reusing_the_root_content_id_is_a_sender_fault(gateway):
    """Issue 14 item 6, on the wire: HTTP 400 with a SOAP Sender fault, nothing stored."""
    from gateway.soap.envelope import build_envelope, serialize
    d = DocumentSpec(b"shadowed")
    body, parts = provide_and_register_request(gateway.pid, [d])
    root = serialize(build_envelope(body, C.ACTION_ITI41, None, to=gateway.repository_url))
    boundary = b"MIMEboundary-root-reuse"
    out = (b"--" + boundary + b'\r\nContent-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"'
           b"\r\nContent-ID: <root@epd-test>\r\n\r\n" + root)
    for cid in (parts[0][0], "root@epd-test"):
        out += (b"\r\n--" + boundary + b"\r\nContent-Type: application/octet-stream\r\nContent-ID: <"
                + cid.encode() + b">\r\n\r\n" + parts[0][2])
    out += b"\r\n--" + boundary + b"--\r\n"
    ctype = ('multipart/related; type="application/xop+xml"; start="<root@epd-test>"; '
             f'start-info="application/soap+xml"; boundary="{boundary.decode()}"')
    st, _, reply = post_raw(gateway.repository_url, out, ctype)
    assert st == 400 and b"Sender" in reply and b"root part" in reply
    assert retrieve(gateway, [d.unique_id])[1] == {}
