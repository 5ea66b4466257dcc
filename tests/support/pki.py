"""The tests' own PKI (cryptography): a CA, server and client certificates, assertion signers."""
from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass
class Issued:
    cert: x509.Certificate
    key: rsa.RSAPrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())

    def write(self, directory: Path, name: str) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        cert, key = directory / f"{name}.crt", directory / f"{name}.key"
        cert.write_bytes(self.cert_pem)
        key.write_bytes(self.key_pem)
        return cert, key


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "epd-gateway tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _window(days: float = 30, start: dt.datetime | None = None):
    start = start or dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)
    return start, start + dt.timedelta(days=days)


class TestCA:
    """A CA issuing TLS server/client certificates and assertion signing certificates."""

    __test__ = False

    def __init__(self, name: str = "epd-gateway test CA") -> None:
        self.key = _key()
        start, end = _window(365)
        self.cert = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name))
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(start).not_valid_after(end)
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                                  content_commitment=False, key_encipherment=False,
                                                  data_encipherment=False, key_agreement=False,
                                                  encipher_only=False, decipher_only=False), critical=True)
                     .sign(self.key, hashes.SHA256()))

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, cn: str, *, server: bool = False, client: bool = False, days: float = 30,
              start: dt.datetime | None = None) -> Issued:
        key = _key()
        begin, end = _window(days, start)
        builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(self.cert.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(begin).not_valid_after(end)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
        usages = []
        if server:
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
            builder = builder.add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        if client:
            usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        if usages:
            builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        return Issued(builder.sign(self.key, hashes.SHA256()), key)


def self_signed(cn: str = "untrusted signer") -> Issued:
    key = _key()
    start, end = _window(30)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end).sign(key, hashes.SHA256()))
    return Issued(cert, key)


class FileCA:
    """A :class:`TestCA` whose certificates live as PEM files in ``directory`` (for daemons and
    settings that take paths): ``path`` is the CA certificate, :meth:`issue` returns an object with
    ``cert`` and ``key`` paths."""

    def __init__(self, directory: Path, name: str = "epd-gateway test CA") -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca = TestCA(name)
        self.path = self.dir / (name.replace(" ", "-") + ".pem")
        self.path.write_bytes(self.ca.cert_pem)

    def issue(self, cn: str, *, server: bool = True, client: bool = True):
        from types import SimpleNamespace
        cert, key = self.ca.issue(cn, server=server, client=client).write(self.dir, cn.replace(" ", "-"))
        return SimpleNamespace(cert=cert, key=key)
