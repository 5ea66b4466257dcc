"""Property tests of the ebRIM parser and the validators: arbitrary mutations of a valid
submission never make them raise; they report errors instead."""
from __future__ import annotations

import copy

from hypothesis import HealthCheck, given, settings, strategies as st
from lxml import etree

from gateway.clients.submission import DocumentSpec, submit_objects_request
from profiles.ch.valuesets import ValueSets
from profiles.ch.annex3 import validate_submission as annex3
from profiles.xds.ebrim import parse_submission
from profiles.xds.validate import validate_submission

PID = "4711^^^&2.16.756.5.30.1.999.1.1&ISO"
BASE = submit_objects_request(PID, [DocumentSpec(b"a"), DocumentSpec(b"b", mime_type="text/plain")], for_register=True)
VS = ValueSets.load()
ELEMENTS = [el for el in BASE.iter() if isinstance(el.tag, str)]

texts = st.one_of(st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40), st.sampled_from(["", "urn:uuid:x", "^^^&&ISO", "2023", "1.2.3", "Doc1"]))


@st.composite
def mutated(draw):
    sor = copy.deepcopy(BASE)
    elements = [el for el in sor.iter() if isinstance(el.tag, str)]
    for _ in range(draw(st.integers(1, 6))):
        el = draw(st.sampled_from(elements))
        op = draw(st.sampled_from(["drop", "attr", "text", "dup", "clear"]))
        if op == "drop" and el.getparent() is not None:
            el.getparent().remove(el)
            elements = [e for e in sor.iter() if isinstance(e.tag, str)]
        elif op == "attr" and el.attrib:
            name = draw(st.sampled_from(sorted(el.attrib)))
            el.set(name, draw(texts))
        elif op == "text":
            el.text = draw(texts)
        elif op == "dup" and el.getparent() is not None:
            el.addnext(copy.deepcopy(el))
            elements = [e for e in sor.iter() if isinstance(e.tag, str)]
        elif op == "clear":
            el.attrib.clear()
    return sor


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_parser_and_validators_never_raise(sor):
    sub, errors = parse_submission(sor)
    errors = list(errors) + validate_submission(sub, for_register=True) + annex3(sub, VS)
    for e in errors:
        assert e.code.startswith("XDS") and e.context


def test_unmutated_base_is_valid():
    sub, errors = parse_submission(copy.deepcopy(BASE))
    assert errors == [] and validate_submission(sub, for_register=True) == [] and annex3(sub, VS) == []


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_xml_bytes_are_reported_not_raised(data):
    try:
        el = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
    except etree.XMLSyntaxError:
        return
    sub, errors = parse_submission(el)
    assert errors


def _wire_form(obj):
    """What ebRIM says of an object, as comparable data (every attribute, slot, name and nested part)."""
    from profiles.xds.ebrim import render_object
    el = render_object(obj)
    return etree.tostring(el, method="c14n")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_model_renders_to_ebrim_and_reads_back_unchanged(sor):
    """The model/wire split: each object parsed from ebRIM renders to ebRIM that parses back into
    the same model (so the stored LeafClass text, rendered from the model, loses nothing the model
    holds), and rendering is deterministic."""
    from dataclasses import asdict
    from profiles.xds.ebrim import parse_object, render_text
    sub, _errors = parse_submission(sor)
    for obj in sub.objects():
        if not obj.entry_uuid:
            continue
        again = parse_object(render_text(obj))
        assert type(again) is type(obj)
        assert asdict(again) == asdict(obj)
        assert _wire_form(again) == _wire_form(obj)
        # the text renderer writes the same XML as the element renderer
        assert etree.tostring(etree.fromstring(render_text(obj)), method="c14n") == _wire_form(obj)


def test_rendered_object_keeps_what_the_submitter_sent():
    """Every slot, localized string, classification and external identifier of the submitted
    ExtrinsicObject is in the rendered element, in ebRIM order."""
    from profiles.xds.ebrim import render_object
    sor = copy.deepcopy(BASE)
    submitted = sor.find(".//{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}ExtrinsicObject")
    etree.SubElement(submitted, "{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}ContentVersionInfo", versionName="2")
    sub, _ = parse_submission(sor)
    rendered = render_object(sub.documents[0])
    from profiles.xds.ebrim import render_text
    assert etree.tostring(etree.fromstring(render_text(sub.documents[0])), method="c14n") == \
        etree.tostring(rendered, method="c14n")
    local = lambda el: [etree.QName(c).localname for c in el if isinstance(c.tag, str)]  # noqa: E731
    assert sorted(local(rendered)) == sorted(local(submitted))
    order = ["Slot", "Name", "Description", "VersionInfo", "Classification", "ExternalIdentifier",
             "ContentVersionInfo"]
    assert local(rendered) == sorted(local(rendered), key=order.index)
    with_id = lambda el: {e.get("id"): dict(e.attrib) for e in el.iter() if e.get("id")}  # noqa: E731
    assert with_id(rendered) == with_id(submitted)
    values = lambda el: sorted((e.getparent().getparent().get("name"), e.text)  # noqa: E731
                               for e in el.iter("{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}Value"))
    assert values(rendered) == values(submitted)
    strings = lambda el: sorted(e.get("value") for e in el.iter(  # noqa: E731
        "{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}LocalizedString"))
    assert strings(rendered) == strings(submitted)
