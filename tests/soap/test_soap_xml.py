"""The hardened XML parser: DOCTYPE/entities refused, malformed XML -> Sender fault, big text ok."""
from __future__ import annotations

import io

import pytest

from gateway.soap.fault import SoapFault
from gateway.soap.xml import parse_xml

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<lolz>&lol9;</lolz>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<foo>&xxe;</foo>"""

XXE_PARAMETER = b"""<!DOCTYPE foo [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><foo/>"""


@pytest.mark.parametrize("doc", [BILLION_LAUGHS, XXE, XXE_PARAMETER, b"<!DOCTYPE a><a/>",
                                 b"<!-- c --><!doctype a><a/>"])
def test_doctype_refused(doc):
    with pytest.raises(SoapFault) as exc:
        parse_xml(doc)
    assert exc.value.code == "Sender" and exc.value.http_status == 400
    assert "root:" not in exc.value.reason


def test_doctype_refused_even_when_not_at_the_start_of_a_chunk():
    # UTF-16 defeats the byte pre-scan: the post-parse docinfo check must still refuse it
    doc = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>'.encode("utf-16")
    with pytest.raises(SoapFault, match="DOCTYPE"):
        parse_xml(doc)


@pytest.mark.parametrize("doc", [b"", b"   ", b"<a>", b"<a></b>", b"not xml", b"<a xmlns:p='x'><q:b/></a>",
                                 b"\xff\xfe\x00garbage"])
def test_malformed_is_sender_fault(doc):
    with pytest.raises(SoapFault) as exc:
        parse_xml(doc)
    assert exc.value.code == "Sender"


def test_xml_declaration_after_whitespace_and_file_input():
    root = parse_xml(io.BytesIO(b'\r\n  <?xml version="1.0" encoding="UTF-8"?>\n<a>\xc3\xa4</a>'))
    assert root.tag == "a" and root.text == "ä"


def test_huge_text_node_allowed():
    big = b"QUJD" * (3 << 20)  # 12 MiB of base64 in one text node: past libxml2's 10 MB limit
    root = parse_xml(io.BytesIO(b"<doc>" + big + b"</doc>"))
    assert len(root.text) == len(big)


def test_entities_never_resolved_without_doctype():
    with pytest.raises(SoapFault):
        parse_xml(b"<a>&undefined;</a>")


# --- issue 14 item 5: a DOCTYPE anywhere in the prolog; the huge-text retry keeps every other limit

def _chunked(data: bytes, size: int = 4096):
    """A file object returning at most ``size`` bytes per read (chunk boundaries anywhere)."""
    class Chunked(io.BytesIO):
        def read(self, n: int = -1) -> bytes:
            return super().read(size if n is None or n < 0 else min(n, size))
    return Chunked(data)


@pytest.mark.parametrize("pad", [4090, 5000, 70_000, 200_000])
def test_doctype_behind_a_long_comment_refused(pad):
    doc = b"<?xml version='1.0'?><!--" + b"x" * pad + b"-->" + BILLION_LAUGHS.split(b"?>", 1)[1]
    with pytest.raises(SoapFault) as exc:
        parse_xml(doc)
    assert "DOCTYPE" in exc.value.reason            # refused as a DOCTYPE, not stopped by libxml2's limits


@pytest.mark.parametrize("size", [1, 3, 7, 4096])
def test_doctype_refused_whatever_the_chunking(size):
    doc = b"<?xml version='1.0'?>\n<!-- a -->\n<?pi x?>\n<!-- b --><!DOCTYPE a [<!ENTITY x 'y'>]><a>&x;</a>"
    with pytest.raises(SoapFault, match="DOCTYPE"):
        parse_xml(_chunked(doc, size))


def test_doctype_behind_comments_and_processing_instructions_refused():
    doc = b"<?xml version='1.0'?>" + b"<?pi " + b"y" * 10_000 + b"?>" + b"<!-- -- - -->" * 1000 + XXE.split(b"?>", 1)[1]
    with pytest.raises(SoapFault, match="DOCTYPE"):
        parse_xml(doc)


def test_utf16_doctype_behind_a_long_comment_refused():
    doc = ("<?xml version='1.0' encoding='UTF-16'?><!--" + "x" * 10_000 + "-->"
           + BILLION_LAUGHS.split(b"?>", 1)[1].decode()).encode("utf-16")
    with pytest.raises(SoapFault, match="DOCTYPE"):
        parse_xml(doc)


def test_documents_with_long_prologs_still_parse():
    doc = b"<?xml version='1.0'?><!--" + b"<!DOCTYPE-ish text in a comment " * 3000 + b"--><?pi z?><a>t</a>"
    assert parse_xml(_chunked(doc, 5)).text == "t"


def _nested(depth: int, text: bytes = b"") -> bytes:
    return b"<a>" * depth + text + b"</a>" * depth


def test_depth_limit_without_huge_text():
    assert parse_xml(_nested(200)) is not None
    with pytest.raises(SoapFault):
        parse_xml(_nested(300))


def test_depth_limit_kept_in_the_huge_text_retry():
    big = b"QUJD" * (3 << 20)                                      # forces the huge-text retry
    assert parse_xml(io.BytesIO(_nested(100, big))) is not None
    with pytest.raises(SoapFault, match="depth"):
        parse_xml(io.BytesIO(_nested(300, big)))


def test_excessive_depth_alone_is_not_retried():
    # the depth error's message says "use XML_PARSE_HUGE": it must not lift the limit
    with pytest.raises(SoapFault):
        parse_xml(io.BytesIO(_nested(1000)))


def test_huge_attribute_refused():
    doc = b'<a x="' + b"Q" * (11 << 20) + b'"/>'
    with pytest.raises(SoapFault):
        parse_xml(io.BytesIO(doc))


def test_huge_attribute_refused_in_the_huge_text_retry():
    doc = b'<a><b>' + b"Q" * (11 << 20) + b'</b><c x="' + b"Q" * (11 << 20) + b'"/></a>'
    with pytest.raises(SoapFault):
        parse_xml(io.BytesIO(doc))


from hypothesis import given, settings, strategies as st  # noqa: E402

_prolog_item = st.one_of(
    st.text(alphabet=" \t\r\n", min_size=1, max_size=5),
    st.text(alphabet="ab<!-DOCTYPE >?", max_size=40).filter(lambda t: "--" not in t and not t.endswith("-"))
      .map(lambda t: f"<!--{t}-->"),
    st.text(alphabet="ab<!DOCTYPE >-", max_size=40).filter(lambda t: "?>" not in t).map(lambda t: f"<?pi {t}?>"),
)


@settings(max_examples=200, deadline=None)
@given(items=st.lists(_prolog_item, max_size=8), chunk=st.integers(1, 64), doctype=st.booleans(),
       encoding=st.sampled_from(["utf-8", "utf-16"]))
def test_prolog_property_doctype_refused_else_parsed(items, chunk, doctype, encoding):
    doc = f"<?xml version='1.0' encoding='{encoding}'?>" + "".join(items)
    doc += ("<!DOCTYPE a [<!ENTITY x 'y'>]><a>&x;</a>" if doctype else "<a>t</a>")
    data = doc.encode(encoding)
    from gateway.soap.xml import _PrologScanner
    scanner = _PrologScanner()
    if doctype:                       # the scanner itself refuses it, before libxml2 sees the DTD
        with pytest.raises(SoapFault, match="DOCTYPE"):
            for i in range(0, len(data), chunk):
                scanner.feed(data[i:i + chunk])
    else:
        for i in range(0, len(data), chunk):
            scanner.feed(data[i:i + chunk])
        assert scanner.done
    if doctype:
        with pytest.raises(SoapFault, match="DOCTYPE"):
            parse_xml(_chunked(data, chunk))
    else:
        assert parse_xml(_chunked(data, chunk)).text == "t"
