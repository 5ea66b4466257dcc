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
