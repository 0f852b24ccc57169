"""A small PKI for the DANE tests: EC and RSA certificates made with ``cryptography``.

Other test_dane_* modules import the helpers; the tests here check the helpers themselves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from workers.dane import TlsaRecord

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
YEAR = timedelta(days=365)

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: PrivateKey

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(Encoding.DER)

    @property
    def spki(self) -> bytes:
        return self.cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)

    def tlsa(self, usage: int, selector: int, mtype: int) -> TlsaRecord:
        data = self.der if selector == 0 else self.spki
        if mtype == 1:
            data = hashlib.sha256(data).digest()
        elif mtype == 2:
            data = hashlib.sha512(data).digest()
        return TlsaRecord(usage, selector, mtype, data)


def issue(
    cn: str,
    issuer: Issued | None = None,
    *,
    key: PrivateKey | None = None,
    ca: bool = False,
    sans: Sequence[str] | None = None,
    not_before: datetime = NOW - YEAR,
    not_after: datetime = NOW + YEAR,
    path_length: int | None = None,
    eku: Sequence[x509.ObjectIdentifier] | None = None,
    issuer_name: str | None = None,
) -> Issued:
    """A certificate for ``cn`` signed by ``issuer`` (self-signed when None).

    Leaves get SAN = ``sans`` (default: [cn]; pass [] for none) and EKU serverAuth by default.
    """
    key = key or ec_key()
    sign_key = issuer.key if issuer else key
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    if issuer_name is not None:
        iname = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)])
    else:
        iname = issuer.cert.subject if issuer else subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(iname)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if ca:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=path_length), critical=True
        )
    else:
        names = [cn] if sans is None else list(sans)
        if names:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
            )
        usages = [ExtendedKeyUsageOID.SERVER_AUTH] if eku is None else list(eku)
        if usages:
            builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    return Issued(builder.sign(sign_key, hashes.SHA256()), key)


@dataclass(frozen=True)
class Pki:
    root: Issued
    inter: Issued
    leaf: Issued

    @property
    def chain(self) -> tuple[bytes, ...]:
        return (self.leaf.der, self.inter.der)

    @property
    def full_chain(self) -> tuple[bytes, ...]:
        return (self.leaf.der, self.inter.der, self.root.der)


def make_pki(
    host: str = "mx.example.net", *, rsa_keys: bool = False, sans: Sequence[str] | None = None
) -> Pki:
    new_key = rsa_key if rsa_keys else ec_key
    root = issue("Test Root", key=new_key(), ca=True)
    inter = issue("Test Issuing CA", root, key=new_key(), ca=True)
    leaf = issue(host, inter, key=new_key(), sans=sans)
    return Pki(root, inter, leaf)


def test_helper_chain_links_by_signature() -> None:
    pki = make_pki()
    pki.leaf.cert.verify_directly_issued_by(pki.inter.cert)
    pki.inter.cert.verify_directly_issued_by(pki.root.cert)


def test_helper_rsa_chain_links_by_signature() -> None:
    pki = make_pki(rsa_keys=True)
    assert isinstance(pki.leaf.key, rsa.RSAPrivateKey)
    pki.leaf.cert.verify_directly_issued_by(pki.inter.cert)


def test_helper_tlsa_data_is_the_key_of_the_private_key() -> None:
    pki = make_pki()
    spki = pki.leaf.key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert pki.leaf.tlsa(3, 1, 1).data == hashlib.sha256(spki).digest()
    assert pki.leaf.tlsa(3, 1, 0).data == spki
    assert pki.leaf.tlsa(3, 0, 2).data == hashlib.sha512(pki.leaf.der).digest()
