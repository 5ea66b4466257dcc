"""``public_url`` (EPD_PUBLIC_URL): behind a proxy, the WSDLs advertise the public address, not the
address the gateway listens on (issue 14 item 16), and ``serve`` prints the public endpoints."""
from __future__ import annotations

import requests
import pytest
from lxml import etree

from app import start_echo
from support.server import make_server

pytestmark = pytest.mark.integration
PUBLIC = "https://epd.example.org/community/"
SOAP12 = "{http://schemas.xmlsoap.org/wsdl/soap12/}address"
XS_IMPORT = "{http://www.w3.org/2001/XMLSchema}import"


def test_wsdl_advertises_the_public_url(tmp_path):
    srv = start_echo(tmp_path, public_url=PUBLIC)
    try:
        wsdl = etree.fromstring(requests.get(srv.url("/echo?wsdl"), timeout=10).content)
        assert wsdl.find(f".//{SOAP12}").get("location") == "https://epd.example.org/community/echo"
        assert wsdl.find(f".//{XS_IMPORT}").get("schemaLocation") == \
            "https://epd.example.org/community/echo?xsd=schemas/echo.xsd"
        xsd = etree.fromstring(requests.get(srv.url("/echo?xsd=schemas/echo.xsd"), timeout=10).content)
        assert xsd.find("{http://www.w3.org/2001/XMLSchema}include").get("schemaLocation") == \
            "https://epd.example.org/community/echo?xsd=schemas/types.xsd"
        assert srv.base_url not in etree.tostring(wsdl).decode()
    finally:
        srv.stop()


def test_serve_prints_and_serves_the_public_endpoints(tmp_path):
    gw = make_server(tmp_path / "d", public_url=PUBLIC).start("--workers", "1")
    try:
        printed = "".join(gw.output)
        for path in ("/xds/repository", "/xds/registry", "/pix", "/pdq", "/health"):
            assert f"https://epd.example.org/community{path}\n" in printed, printed
        for path in ("/xds/repository", "/xds/registry", "/pix", "/pdq"):
            wsdl = etree.fromstring(requests.get(gw.url(path + "?wsdl"), timeout=10).content)
            locations = {a.get("location") for a in wsdl.iter(SOAP12)}
            assert locations == {f"https://epd.example.org/community{path}"}, (path, locations)
    finally:
        gw.stop()
