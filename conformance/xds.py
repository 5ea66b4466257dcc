"""Conformance plan for an XDS.b Document Repository / Registry (ITI-41, ITI-42, ITI-43).

Each case sends real SOAP 1.2 traffic to the endpoint under test and checks the answer against
the IHE ITI Technical Framework and the Swiss rules: status, error codes, wsa:Action, byte-exact
retrieval. ``run_plan`` returns one ``CaseResult`` per case; ``epd-gateway conformance`` prints them.
The submissions sent are first checked offline with the registry's own rules
(``profiles.ch.epr_submission``), so a failure points at the endpoint, not at the test data.
"""
from __future__ import annotations

import traceback
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import requests
from lxml import etree

from gateway.clients.soap import SoapClient, SoapFaultError
from gateway.clients.submission import DocumentSpec, provide_and_register_request, submit_objects_request
from gateway.clients.xds import XdsClient
from profiles.ch.epr_submission import check_submission_element
from profiles.ch.valuesets import ValueSets
from profiles.xds import constants as C

RS = "{%s}" % C.NS_RS


@dataclass
class Target:
    repository_url: str
    registry_url: str
    patient_id: str                 # an MPI-PID (CX) the endpoint's MPI knows
    repository_unique_id: str


@dataclass
class CaseResult:
    name: str
    passed: bool
    detail: str = ""


class CaseFailed(AssertionError):
    pass


def _expect(cond: bool, what: str) -> None:
    if not cond:
        raise CaseFailed(what)


def _status(rr) -> str:
    return (rr.get("status") or "").rsplit(":", 1)[-1]


def _codes(rr) -> list[str]:
    return sorted({e.get("errorCode") for e in rr.iter(RS + "RegistryError")})


@lru_cache(maxsize=1)
def _valuesets() -> ValueSets:
    return ValueSets.load()


def _offline_valid(body) -> None:
    sor = body if body.tag == "{%s}SubmitObjectsRequest" % C.NS_LCM else body.find("{%s}SubmitObjectsRequest" % C.NS_LCM)
    errors = check_submission_element(sor, _valuesets())
    _expect(not errors, "test data refused offline: " + "; ".join(e.context for e in errors))


def _client(t: Target) -> XdsClient:
    """ITI-41/43 through the gateway's own client, strict about wsa:Action (a wrong or missing one
    fails the case with the client's SoapTransportError)."""
    return XdsClient(t.repository_url, t.registry_url, require_action=True)


def _provide(t: Target, docs: list[DocumentSpec], patient: str | None = None, check: bool = True):
    body, parts = provide_and_register_request(patient or t.patient_id, docs)
    if check:
        _offline_valid(body)
    with _client(t) as client:
        return client.provide_and_register(body, parts)


def _retrieve(t: Target, uids: list[str]):
    with _client(t) as client:
        rr, docs = client.retrieve([(t.repository_unique_id, u) for u in uids])
    return rr, {d.document_unique_id: (d.mime_type, d.read_bytes()) for d in docs}


def _register(t: Target, sor):
    """ITI-42 as plain SOAP: the endpoint under test need not serve its WSDL (zeep's XdsClient.register does)."""
    resp = SoapClient(t.registry_url).call(C.ACTION_ITI42, sor)
    _expect(resp.action == C.ACTION_ITI42_RESPONSE, f"wsa:Action {resp.action!r}, expected {C.ACTION_ITI42_RESPONSE}")
    _expect(resp.body is not None and resp.body.tag == RS + "RegistryResponse", "ITI-42 reply is not a RegistryResponse")
    return resp.body


def case_provide_and_retrieve(t: Target) -> None:
    docs = [DocumentSpec(b"%PDF-1.4 conformance", mime_type="application/pdf"),
            DocumentSpec("Konformität".encode(), mime_type="text/plain")]
    rr = _provide(t, docs)
    _expect(_status(rr) == "Success", f"ITI-41 status {_status(rr)} {_codes(rr)}")
    rr, got = _retrieve(t, [d.unique_id for d in docs])
    _expect(_status(rr) == "Success", f"ITI-43 status {_status(rr)}")
    _expect(got == {d.unique_id: (d.mime_type, d.content) for d in docs}, "retrieved documents differ")


def case_retrieve_partial_success(t: Target) -> None:
    d = DocumentSpec(b"partial")
    _expect(_status(_provide(t, [d])) == "Success", "ITI-41 refused")
    rr, got = _retrieve(t, [d.unique_id, "1.2.3.4.5.404"])
    _expect(_status(rr) == "PartialSuccess", f"status {_status(rr)}, expected PartialSuccess")
    _expect(_codes(rr) == ["XDSDocumentUniqueIdError"], f"codes {_codes(rr)}")


def case_unknown_patient(t: Target) -> None:
    cx_oid = t.patient_id.split("&")[1]
    rr = _provide(t, [DocumentSpec(b"x")], patient=f"CONFORMANCE-UNKNOWN^^^&{cx_oid}&ISO")
    _expect(_codes(rr) == ["XDSUnknownPatientId"], f"codes {_codes(rr)}")


def case_hash_mismatch(t: Target) -> None:
    rr = _provide(t, [DocumentSpec(b"content", extra_slots={"hash": ["0" * 40]})], check=False)
    _expect(_codes(rr) == ["XDSRepositoryMetadataError"], f"codes {_codes(rr)}")


def case_annex3_code_refused(t: Target) -> None:
    rr = _provide(t, [DocumentSpec(b"x", class_code=("12345", "2.16.840.1.113883.6.96"))], check=False)
    _expect(_status(rr) == "Failure" and "XDSRegistryMetadataError" in _codes(rr), f"codes {_codes(rr)}")


def case_replace_deprecates(t: Target) -> None:
    v1 = DocumentSpec(b"v1")
    _expect(_status(_provide(t, [v1])) == "Success", "v1 refused")
    _expect(_status(_provide(t, [DocumentSpec(b"v2", replaces=v1.entry_id)])) == "Success", "RPLC refused")
    rr = _provide(t, [DocumentSpec(b"v3", replaces=v1.entry_id)])
    _expect(_codes(rr) == ["XDSRegistryError"], f"second RPLC of a deprecated version: {_codes(rr)}")
    _expect(_retrieve(t, [v1.unique_id])[1].get(v1.unique_id, (None, None))[1] == b"v1",
            "the deprecated version is no longer retrievable")


def case_register_non_identical_hash(t: Target) -> None:
    d = DocumentSpec(b"registered")
    sor = submit_objects_request(t.patient_id, [d], for_register=True, repository_unique_id="1.2.3.99")
    _offline_valid(sor)
    rr = _register(t, sor)
    _expect(_status(rr) == "Success", f"ITI-42 status {_status(rr)} {_codes(rr)}")
    sor = submit_objects_request(t.patient_id, [DocumentSpec(b"other", unique_id=d.unique_id)], for_register=True)
    rr = _register(t, sor)
    _expect(_codes(rr) == ["XDSNonIdenticalHash"], f"codes {_codes(rr)}")


def case_unknown_action_fault(t: Target) -> None:
    try:
        SoapClient(t.repository_url).call("urn:ihe:iti:2007:NoSuchTransaction", etree.Element("x"))
    except SoapFaultError as exc:
        _expect("ActionNotSupported" in (exc.subcode or ""), f"fault subcode {exc.subcode!r}")
        return
    raise CaseFailed("no SOAP fault for an unknown wsa:Action")


PLAN: list[tuple[str, Callable[[Target], None]]] = [
    ("ITI-41/ITI-43 MTOM round trip, two documents", case_provide_and_retrieve),
    ("ITI-43 PartialSuccess with XDSDocumentUniqueIdError", case_retrieve_partial_success),
    ("ITI-41 XDSUnknownPatientId", case_unknown_patient),
    ("ITI-41 XDSRepositoryMetadataError on a wrong hash", case_hash_mismatch),
    ("ITI-41 annex 3: code outside the value set refused", case_annex3_code_refused),
    ("ITI-41 RPLC deprecates, old version retrievable, no second RPLC", case_replace_deprecates),
    ("ITI-42 XDSNonIdenticalHash", case_register_non_identical_hash),
    ("SOAP fault wsa:ActionNotSupported", case_unknown_action_fault),
]


def run_plan(target: Target) -> list[CaseResult]:
    results = []
    for name, case in PLAN:
        try:
            case(target)
            results.append(CaseResult(name, True))
        except CaseFailed as exc:
            results.append(CaseResult(name, False, str(exc)))
        except requests.RequestException as exc:  # the endpoint went away or never answered: one line
            results.append(CaseResult(name, False, f"no answer from the endpoint: {type(exc).__name__}: {exc}"))
        except Exception as exc:  # anything else: a failed case, with its cause (not the whole chain)
            results.append(CaseResult(name, False, f"{type(exc).__name__}: {exc}\n"
                                                   f"{traceback.format_exc(limit=2, chain=False)}"))
    return results
