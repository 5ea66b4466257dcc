"""TLS for ``serve``: Twisted's pyOpenSSL ``CertificateOptions`` around the listening site.

* ``EPD_TLS_CERT`` + ``EPD_TLS_KEY`` (PEM; the certificate file may hold the chain after the leaf):
  the gateway speaks TLS 1.2 or 1.3 only, with forward-secret AEAD suites only (ECDHE/DHE with
  AES-GCM or ChaCha20-Poly1305; TLS 1.3 suites are all AEAD).
* ``EPD_TLS_CLIENT_CA`` (a PEM bundle) in addition: mutual TLS. A client without a certificate, or
  with one not issued by a CA of the bundle, fails the handshake; the client certificate's subject
  reaches the RequestContext (``Principal.tls_subject``, RFC 4514 form).
* Without TLS settings the gateway serves plain HTTP on a loopback address only (development) and
  says so; a non-loopback host without TLS is refused (:func:`listen_check`).

:func:`wrap_factory` is the one call in ``gateway.server`` (every worker wraps its own port).
"""
from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from gateway.config import Settings
from profiles.context import ANONYMOUS, Principal

#: OpenSSL cipher string for TLS 1.2: forward secrecy and AEAD only.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!eNULL:!MD5:!DSS:!RC4:!3DES"

DEV_WARNING = ("WARNING: no TLS configured (EPD_TLS_CERT/EPD_TLS_KEY): plain HTTP on a loopback address, "
               "for development only. The Swiss EPR requires mutual TLS.")


class TlsConfigError(ValueError):
    """The TLS settings cannot be used (the message says why, for the operator)."""


def tls_enabled(settings: Settings) -> bool:
    return bool(settings.tls_cert or settings.tls_key)


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def listen_check(settings: Settings) -> str | None:
    """Refuse a non-loopback host without TLS (:class:`TlsConfigError`); the warning to print for
    plain HTTP on loopback, else None. Also checks the TLS settings are complete and readable."""
    if not tls_enabled(settings):
        if settings.tls_client_ca:
            raise TlsConfigError("EPD_TLS_CLIENT_CA is set but EPD_TLS_CERT/EPD_TLS_KEY are not: "
                                 "mutual TLS needs the server's own certificate and key")
        if not is_loopback(settings.host):
            raise TlsConfigError(f"refusing to listen on {settings.host} in plain HTTP: without TLS "
                                 "(EPD_TLS_CERT and EPD_TLS_KEY) the gateway listens on a loopback "
                                 "address only (127.0.0.1, ::1)")
        return DEV_WARNING
    server_options(settings)   # fails now, with the reason, rather than in every worker
    return None


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise TlsConfigError(f"{what} {path!r} cannot be read: {exc.strerror or exc}") from None


def server_options(settings: Settings):
    """The ``CertificateOptions`` of the server (TLS 1.2+, strong suites, mutual TLS if configured)."""
    from OpenSSL import crypto
    from twisted.internet import ssl
    if not (settings.tls_cert and settings.tls_key):
        raise TlsConfigError("TLS needs both EPD_TLS_CERT and EPD_TLS_KEY")
    cert_pem = _read(settings.tls_cert, "EPD_TLS_CERT")
    key_pem = _read(settings.tls_key, "EPD_TLS_KEY")
    try:
        from cryptography import x509
        chain = [crypto.X509.from_cryptography(c) for c in x509.load_pem_x509_certificates(cert_pem)]
        key = crypto.load_privatekey(crypto.FILETYPE_PEM, key_pem)
    except Exception as exc:
        raise TlsConfigError(f"EPD_TLS_CERT/EPD_TLS_KEY are not a PEM certificate and key: {exc}") from None
    ca_certs = None
    if settings.tls_client_ca:
        try:
            from cryptography import x509
            ca_certs = [crypto.X509.from_cryptography(c) for c in
                        x509.load_pem_x509_certificates(_read(settings.tls_client_ca, "EPD_TLS_CLIENT_CA"))]
        except TlsConfigError:
            raise
        except Exception as exc:
            raise TlsConfigError(f"EPD_TLS_CLIENT_CA is not a PEM bundle: {exc}") from None
    try:
        return ssl.CertificateOptions(
            privateKey=key, certificate=chain[0], extraCertChain=chain[1:] or None,
            verify=ca_certs is not None, caCerts=ca_certs, requireCertificate=ca_certs is not None,
            raiseMinimumTo=ssl.TLSVersion.TLSv1_2,
            acceptableCiphers=ssl.AcceptableCiphers.fromOpenSSLCipherString(TLS12_CIPHERS))
    except Exception as exc:
        raise TlsConfigError(f"the TLS certificate and key cannot be used: {exc}") from None


def wrap_factory(factory: Any, settings: Settings) -> Any:
    """``factory`` wrapped in TLS when TLS is configured, else ``factory`` itself."""
    if not tls_enabled(settings):
        return factory
    from twisted.protocols.tls import TLSMemoryBIOFactory

    class _TlsFactory(TLSMemoryBIOFactory):
        @property
        def open_connections(self) -> int:   # read by gateway.server._BalancedPort
            return getattr(self.wrappedFactory, "open_connections", 0)

    return _TlsFactory(server_options(settings), False, factory)


def url_scheme(settings: Settings) -> str:
    return "https" if tls_enabled(settings) else "http"


def peer_subject(request: Any) -> str | None:
    """The client certificate's subject (RFC 4514) of the request's TLS connection, or None."""
    transport = getattr(getattr(request, "channel", None), "transport", None)
    get = getattr(transport, "getPeerCertificate", None)
    if get is None:
        return None
    try:
        cert = get()
    except Exception:
        return None
    if cert is None:
        return None
    return cert.to_cryptography().subject.rfc4514_string()


def peer_principal(request: Any) -> Principal:
    """The Principal a request starts with: anonymous, with the TLS client subject if any."""
    subject = peer_subject(request)
    return Principal(tls_subject=subject) if subject else ANONYMOUS
