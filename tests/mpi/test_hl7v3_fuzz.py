"""Property tests: random and mutated HL7 V3 input yields an acknowledgement, never an exception."""
from __future__ import annotations

import copy

from hypothesis import HealthCheck, given, settings, strategies as st
from lxml import etree

from profiles.ch.identifiers import CX, EPR_SPID_OID
from profiles.hl7v3.errors import Hl7v3Error, UnknownPatient
from profiles.hl7v3.messages import ResponseContext, parse
from profiles.hl7v3.mpi import Patient, PatientFeed
from profiles.hl7v3.pdq import InMemoryQueryStates, PdqSupplier
from profiles.hl7v3.pix import PixManager
from profiles.hl7v3.ports import MpiPort

from hl7v3_samples import continuation, feed, pdq_query, name_param, pix_query, sample_body, spid

MPI = "2.16.756.5.30.1.999.1.1"
SRC = "1.3.6.1.4.1.21367.2017.2.5.89"


class FakeMpi:
    """An in-memory MpiPort: enough to drive every code path of the logic."""
    mpi_oid = MPI

    def __init__(self):
        self.patients: dict[str, Patient] = {}

    def feed_add(self, f: PatientFeed, audit=None) -> Patient:
        p = Patient(mpi_pid=f.mpi_pid or f"P{len(self.patients)}", epr_spid=f.epr_spid, demographics=f.demographics,
                    local_ids=f.local_ids, key=len(self.patients))
        self.patients[p.epr_spid] = p
        return p

    def feed_revise(self, key_id, f, audit=None):
        p = self.find(key_id)
        if p is None:
            raise UnknownPatient(str(key_id))
        return p

    def merge(self, survivor_id, obsolete_id, message_id="", audit=None):
        p = self.find(survivor_id)
        if p is None or self.find(obsolete_id) is None:
            raise UnknownPatient("x")
        return p

    def find(self, cx: CX):
        for p in self.patients.values():
            if cx in p.local_ids or (cx.oid == MPI and cx.id == p.mpi_pid) or (cx.oid == EPR_SPID_OID and cx.id == p.epr_spid):
                return p
        return None

    def is_known_domain(self, oid):
        return oid in (MPI, EPR_SPID_OID) or any(c.oid == oid for p in self.patients.values() for c in p.local_ids)

    def candidates(self, query):
        return list(self.patients.values())

    def get_many(self, keys):
        return [p for p in self.patients.values() if p.key in keys]


CTX = ResponseContext(device_oid="1.2.3")


def _managers():
    mpi = FakeMpi()
    assert isinstance(mpi, MpiPort)
    pix = PixManager(mpi, CTX)
    pix.feed(feed("PRPA_IN201301UV02", [(SRC, "L1"), (EPR_SPID_OID, spid(1))]))
    return pix, PdqSupplier(mpi, InMemoryQueryStates(), CTX)


PIX, PDQ = _managers()
SEEDS = [
    sample_body("ITI-44_request_raw.xml"), sample_body("ITI-45_request_raw.xml"), sample_body("ITI-47_request_raw.xml"),
    feed("PRPA_IN201302UV02", [(SRC, "L1")]), feed("PRPA_IN201304UV02", [(SRC, "L1")], prior=(SRC, "L2")),
    pix_query((SRC, "L1"), [MPI]), pdq_query(name_param("Muster"), initial=1), continuation("pq1", 1),
]
ACKS = {"AA", "AE", "AR"}


def _all_handlers(msg):
    for handler in (PIX.feed, PIX.query, PDQ.query, PDQ.continue_query, PDQ.cancel_query):
        out = handler(copy.deepcopy(msg))
        code = out.find("{urn:hl7-org:v3}acknowledgement/{urn:hl7-org:v3}typeCode").get("code")
        assert code in ACKS
        etree.tostring(out)   # serialisable


texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30)
clean = texts.map(lambda s: "".join(c for c in s if c == "\t" or c == "\n" or ord(c) >= 0x20 and c not in "\ufffe\uffff"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(range(len(SEEDS))), ops=st.lists(
    st.tuples(st.integers(0, 10_000), st.sampled_from(["drop", "attr", "text", "dup"]), clean), max_size=6))
def test_mutated_messages_get_an_ack(seed, ops):
    msg = copy.deepcopy(SEEDS[seed])
    for index, op, value in ops:
        elements = [e for e in msg.iter() if isinstance(e.tag, str)]
        target = elements[index % len(elements)]
        if op == "drop" and target is not msg:
            target.getparent().remove(target)
        elif op == "attr":
            names = list(target.attrib) or ["root"]
            target.set(names[index % len(names)], value)
        elif op == "text":
            target.text = value
        elif op == "dup" and target is not msg:
            target.addnext(copy.deepcopy(target))
    _all_handlers(msg)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_are_a_clean_error(data):
    try:
        msg = parse(data)
    except Hl7v3Error as err:
        assert err.ack == "AR"
        return
    _all_handlers(msg)


# -- the parsers alone: never raise, refuse exactly past the limits -----------------------------

from profiles.hl7v3.limits import Hl7v3Limits  # noqa: E402
from profiles.hl7v3.pdq import parse_continuation, parse_pdq_query  # noqa: E402
from profiles.hl7v3.pix import parse_feed, parse_pix_query  # noqa: E402


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(range(len(SEEDS))), ops=st.lists(
    st.tuples(st.integers(0, 10_000), st.sampled_from(["drop", "attr", "text", "dup"]), clean), max_size=6))
def test_parsers_never_raise(seed, ops):
    msg = copy.deepcopy(SEEDS[seed])
    for index, op, value in ops:
        elements = [e for e in msg.iter() if isinstance(e.tag, str)]
        target = elements[index % len(elements)]
        if op == "drop" and target is not msg:
            target.getparent().remove(target)
        elif op == "attr":
            names = list(target.attrib) or ["root"]
            target.set(names[index % len(names)], value)
        elif op == "text":
            target.text = value
        elif op == "dup" and target is not msg:
            target.addnext(copy.deepcopy(target))
    for request in (parse_feed(msg, ("PRPA_IN201301UV02", "PRPA_IN201302UV02", "PRPA_IN201304UV02"), MPI),
                    parse_pix_query(msg, MPI), parse_pdq_query(msg, MPI), parse_continuation(msg),
                    parse_continuation(msg, cancel=True)):
        if request.refusal is not None:
            assert request.refusal.ack in ("AE", "AR") and request.refusal.details


@settings(max_examples=60, deadline=None)
@given(names=st.integers(1, 40), limit=st.integers(1, 30), length=st.integers(1, 40), max_len=st.integers(1, 30))
def test_pdq_parser_refuses_exactly_past_the_limits(names, limit, length, max_len):
    limits = Hl7v3Limits(max_parameter_values=limit, max_name_part_length=max_len)
    msg = pdq_query("".join(name_param("M" * length) for _ in range(names)))
    request = parse_pdq_query(msg, MPI, limits)
    if names > limit:
        assert "hl7_max_parameter_values" in request.refusal.details[0].text
    elif length > max_len:
        assert "hl7_max_name_part_length" in request.refusal.details[0].text
    else:
        assert request.refusal is None and len(request.query.criteria.names) == names
