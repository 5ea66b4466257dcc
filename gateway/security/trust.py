"""The X-Assertion Provider certificates the gateway trusts (``EPD_XUA_TRUST``, a PEM bundle).

A signer is trusted when its certificate is in the bundle, or is directly issued by a CA
certificate of the bundle (basicConstraints CA). Either way the certificate must be within its
validity period.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization


def load_certificates(pem: bytes | str | Path) -> list[x509.Certificate]:
    """Certificates of a PEM bundle (bytes, or the path of a file)."""
    if isinstance(pem, (str, Path)) and not (isinstance(pem, str) and pem.lstrip().startswith("-----")):
        data = Path(pem).read_bytes()
    else:
        data = pem.encode() if isinstance(pem, str) else pem
    return list(x509.load_pem_x509_certificates(data))


def _fingerprint(cert: x509.Certificate) -> bytes:
    return cert.fingerprint(hashes.SHA256())


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def pem_of(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class TrustStore:
    certificates: list[x509.Certificate] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._leaves = {_fingerprint(c): c for c in self.certificates}
        self._cas = [c for c in self.certificates if _is_ca(c)]

    @classmethod
    def from_sources(cls, sources: Iterable[bytes | str | Path]) -> "TrustStore":
        certs: list[x509.Certificate] = []
        for source in sources:
            certs.extend(load_certificates(source))
        return cls(certs)

    def __bool__(self) -> bool:
        return bool(self.certificates)

    @property
    def signing_certificates(self) -> list[x509.Certificate]:
        """The certificates tried when an assertion's signature names no certificate."""
        return [c for c in self.certificates if not _is_ca(c)]

    def problem(self, cert: x509.Certificate, now: dt.datetime) -> str | None:
        """Why ``cert`` may not sign assertions here, or None."""
        if now < cert.not_valid_before_utc or now > cert.not_valid_after_utc:
            return "the signer's certificate is outside its validity period"
        if _fingerprint(cert) in self._leaves:
            return None
        for ca in self._cas:
            if ca.subject != cert.issuer:
                continue
            try:
                cert.verify_directly_issued_by(ca)
            except (ValueError, TypeError, Exception):  # InvalidSignature and friends
                continue
            if now < ca.not_valid_before_utc or now > ca.not_valid_after_utc:
                continue
            return None
        return "the signer's certificate is not among the trusted X-Assertion Providers"
