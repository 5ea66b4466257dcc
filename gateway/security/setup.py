"""Security settings: whether XUA is on, the trust store, the XUA seam for the application's pipeline.

XUA is on when ``EPD_XUA_TRUST`` names a PEM bundle or ``serve --demo`` trusts the development
provider (``xua_dev_trust``). Then ``gateway.app`` builds its one pipeline with :func:`make_security`;
each transaction declares what it demands (ITI-18/41/42/43 and PPQ ``SECURITY_XUA``, PIX/PDQ
``SECURITY_TLS``).
"""
from __future__ import annotations

import logging

from gateway.config import Settings
from gateway.security.trust import TrustStore, load_certificates
from gateway.security.xua import AssertionVerifier, XuaSecurity

log = logging.getLogger("gateway.security")



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
