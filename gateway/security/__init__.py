"""The security station of the pipeline: TLS (mutual TLS), CH:XUA assertion verification, trust.

* :mod:`.tls`: the server's TLS context (TLS 1.2+, client certificates against ``EPD_TLS_CLIENT_CA``)
  and the TLS client identity of a request.
* :mod:`.signature`: XML signature of a SAML assertion with python-xmlsec (verify and sign).
* :mod:`.trust`: the X-Assertion Provider certificates trusted (``EPD_XUA_TRUST``).
* :mod:`.xua`: :class:`XuaSecurity`, the pipeline's ``SecurityHeader`` for CH:XUA.
* :mod:`.faults`: the WS-Security §12 faults (docs/decisions/007-xua-faults.md).
* :mod:`.provider`: the development X-Assertion Provider (``epd-gateway xua issue``).
* :mod:`.setup`: puts it all into the resource tree (``gateway.app``).
"""
