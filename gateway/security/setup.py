"""Security in the resource tree: the XUA seam on every SOAP endpoint's pipeline.

XUA is on when ``EPD_XUA_TRUST`` names a PEM bundle or ``serve --demo`` trusts the development
provider (``xua_dev_trust``). Then every :class:`gateway.server.SoapEndpoint`'s pipeline gets
:class:`XuaSecurity`, and a transaction still at ``SECURITY_NONE`` whose IHE name demands more gets
it: ITI-18/41/42/43/38/39/57 -> ``SECURITY_XUA``, ITI-44/45/47/55 -> ``SECURITY_TLS``. A
transaction that already declares its security keeps it.
"""
from __future__ import annotations

import dataclasses
import logging

from gateway.config import Settings
from gateway.pipeline import SECURITY_NONE, SECURITY_TLS, SECURITY_XUA
from gateway.security.trust import TrustStore, load_certificates
from gateway.security.xua import AssertionVerifier, XuaSecurity

log = logging.getLogger("gateway.security")

XUA_TRANSACTIONS = frozenset({"ITI-18", "ITI-41", "ITI-42", "ITI-43", "ITI-38", "ITI-39", "ITI-57"})
TLS_TRANSACTIONS = frozenset({"ITI-44", "ITI-45", "ITI-47", "ITI-55"})


def xua_enabled(settings: Settings) -> bool:
    return bool(settings.xua_trust) or settings.xua_dev_trust


def trust_store(settings: Settings) -> TrustStore:
    certs = []
    if settings.xua_trust:
        certs.extend(load_certificates(settings.xua_trust))
    if settings.xua_dev_trust:
        from gateway.security.provider import DevelopmentProvider
        certs.extend(load_certificates(DevelopmentProvider(settings.data_dir).certificate_pem()))
    return TrustStore(certs)


def xua_check(settings: Settings) -> str | None:
    """Why the XUA settings cannot be used (for ``serve`` to say before any worker starts), or None."""
    if not xua_enabled(settings):
        return None
    try:
        store = trust_store(settings)
    except OSError as exc:
        return f"EPD_XUA_TRUST {settings.xua_trust!r} cannot be read: {exc.strerror or exc}"
    except ValueError as exc:
        return f"EPD_XUA_TRUST {settings.xua_trust!r} is not a PEM certificate bundle: {exc}"
    if not store:
        return f"EPD_XUA_TRUST {settings.xua_trust!r} holds no certificate"
    return None


def make_security(settings: Settings) -> XuaSecurity | None:
    if not xua_enabled(settings):
        return None
    verifier = AssertionVerifier(trust_store(settings), clock_skew=settings.xua_clock_skew,
                                 cache_size=settings.xua_cache_size)
    return XuaSecurity(verifier)


def required_security(transaction_name: str) -> str:
    if transaction_name in XUA_TRANSACTIONS:
        return SECURITY_XUA
    if transaction_name in TLS_TRANSACTIONS:
        return SECURITY_TLS
    return SECURITY_NONE


def install(root, settings: Settings) -> XuaSecurity | None:
    """Put the XUA seam on every SoapEndpoint below ``root`` (no-op when XUA is off)."""
    security = make_security(settings)
    if security is None:
        return None
    from gateway.server import SoapEndpoint

    def walk(res) -> None:
        if isinstance(res, SoapEndpoint):
            res.pipeline.security = security
            for action, tx in list(res.handlers.items()):
                if tx.security == SECURITY_NONE:
                    wanted = required_security(tx.name)
                    if wanted != SECURITY_NONE:
                        res.handlers[action] = dataclasses.replace(tx, security=wanted)
        for child in getattr(res, "children", {}).values():
            walk(child)

    walk(root)
    return security
