"""An operator installs a newer annex 3 release without a code change: the running gateway enforces
it and reports it on /health."""
from __future__ import annotations

import json

import requests

from gateway.clients.soap import SoapClient
from gateway.clients.submission import DocumentSpec, provide_and_register_request
from gateway.soap.attachments import OutgoingAttachment
from profiles.ch.valuesets import ValueSets
from profiles.xds import constants as C
from support.gateway_proc import REPO, make_gateway

NEW_CLASS = ("99990001", "2.16.840.1.113883.6.96")


def _provide(gw, pid, doc):
    body, parts = provide_and_register_request(pid, [doc])
    resp = SoapClient(gw.repository_url).call(C.ACTION_ITI41, body,
                                              [OutgoingAttachment(c, m, data=d) for c, m, d in parts], mtom=True)
    return resp.body


def test_a_newer_release_is_enforced_and_reported(tmp_path):
    data = json.loads((REPO / "profiles/ch/data/annex3-valuesets.json").read_text(encoding="utf-8"))
    data["_meta"]["release"] = "annex 3 test release 2027"
    data["classCode"]["codes"].append({"system": NEW_CLASS[1], "code": NEW_CLASS[0], "display": {"en": "New class"}})
    # the classCode/typeCode map must pair the new class with a type
    if "_maps" in data:
        data["_maps"] = {}
    vsf = tmp_path / "annex3-2027.json"
    vsf.write_text(json.dumps(data), encoding="utf-8")

    packaged = make_gateway(tmp_path / "a")
    pid = packaged.add_patient("761337610411353650")
    packaged.start("--workers", "1")
    try:
        health = requests.get(packaged.base_url + "/health", timeout=5).json()
        assert health["annex3_valuesets"] == ValueSets.load().version
        rr = _provide(packaged, pid, DocumentSpec(b"x", class_code=NEW_CLASS))
        assert rr.get("status") == C.RESPONSE_FAILURE and "classCode" in rr[0][0].get("codeContext")
    finally:
        packaged.stop()

    newer = make_gateway(tmp_path / "b", valuesets_file=str(vsf))
    pid = newer.add_patient("761337610411353650")
    newer.start("--workers", "1")
    try:
        health = requests.get(newer.base_url + "/health", timeout=5).json()
        assert health["annex3_valuesets"] == "annex 3 test release 2027"
        rr = _provide(newer, pid, DocumentSpec(b"x", class_code=NEW_CLASS))
        assert rr.get("status") == C.RESPONSE_SUCCESS, [e.get("codeContext") for e in rr.iter()]
    finally:
        newer.stop()
