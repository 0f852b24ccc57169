"""What one presented certificate says, read field by field: never raising, never printing.

A server may send anything in its chain. Whatever ``cryptography`` cannot read (the certificate
as a whole, its public key, its names, its extensions) is recorded as a problem (``'<part>:
<why>'``) and the rest is still read; the DER and its digest are always kept, and the key's
algorithm, curve and size come from the SubjectPublicKeyInfo cut out of the DER when
``cryptography`` cannot load the key (workers.dane.der). Quirks ``cryptography`` accepts with a
warning (``non-positive-serial``) are recorded instead of printed. Pure.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

from workers.dane.der import (
    EC_OID,
    RSA_OID,
    RSA_PSS_OID,
    DerError,
    certificate_spki,
    spki_algorithm,
)
from workers.dane.loading import CERT_ERRORS, caught, describe, load_der

T = TypeVar("T")

# Curves by OID, for a key cryptography does not load, so that the stored key type names them
# (the names cryptography gives the curves it knows).
CURVE_NAMES = {
    "1.2.840.10045.3.1.7": "secp256r1",
    "1.3.132.0.34": "secp384r1",
    "1.3.132.0.35": "secp521r1",
    "1.2.840.10045.3.1.1": "prime192v1",
    "1.2.840.10045.3.1.2": "prime192v2",
    "1.2.840.10045.3.1.3": "prime192v3",
    "1.2.840.10045.3.1.4": "prime239v1",
    "1.2.840.10045.3.1.5": "prime239v2",
    "1.2.840.10045.3.1.6": "prime239v3",
    "1.2.156.10197.1.301": "sm2",
    "1.3.132.0.10": "secp256k1",
}
ALGORITHM_NAMES = {
    RSA_OID: "rsa",
    RSA_PSS_OID: "rsa",
    "1.3.101.112": "ed25519",
    "1.3.101.113": "ed448",
    "1.2.840.10040.4.1": "dsa",
}


@dataclass(frozen=True)
class CertificateFacts:
    """What could be read. Digests are lower-case hex; absent parts are empty (dates None)."""

    sha256: str
    der: bytes
    subject: str
    issuer: str
    self_issued: bool
    san: tuple[str, ...]
    not_before: datetime | None
    not_after: datetime | None
    spki_sha256: str
    spki_sha512: str
    key_type: str
    key_bits: int
    issuer_org: str
    issuer_cn: str
    problems: tuple[str, ...]


def key_from_shape(spki: bytes) -> tuple[str, int]:
    """Key type and size told by the SPKI's encoding alone (a key cryptography cannot load)."""
    shape = spki_algorithm(spki)
    if shape.algorithm == EC_OID:
        return f"ec-{CURVE_NAMES.get(shape.parameter, shape.parameter or 'explicit')}", 0
    name = ALGORITHM_NAMES.get(shape.algorithm)
    return (name or f"oid-{shape.algorithm}"), shape.key_bits


def _key_of(key: object) -> tuple[str, int]:
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ec-{key.curve.name}", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "ed448", 456
    if isinstance(key, dsa.DSAPublicKey):
        return "dsa", key.key_size
    return "other", 0


def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    vals = name.get_attributes_for_oid(oid)
    return str(vals[0].value) if vals else ""


class _Reader:
    """Reads parts one at a time; a part that raises what cryptography documents is a problem."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.notes: list[str] = []

    def part(self, what: str, read: Callable[[], T], default: T) -> T:
        """Call inside ``caught(self.notes)`` (one warnings block per certificate, not per part:
        entering one costs as much as reading a field)."""
        try:
            return read()
        except CERT_ERRORS as exc:
            self.problems.append(f"{what}: {describe(exc)}")
            return default


def read_certificate(der: bytes) -> CertificateFacts:
    """Every readable fact of one DER certificate; what cannot be read is in ``problems``."""
    reader = _Reader()
    spki = b""
    try:
        spki = certificate_spki(der)
    except DerError as exc:
        reader.problems.append(f"subjectPublicKeyInfo: {exc}")
    loaded = load_der(der)
    reader.notes.extend(n for n in loaded.notes if n not in reader.notes)
    cert = loaded.cert
    subject = issuer = issuer_org = issuer_cn = ""
    san: tuple[str, ...] = ()
    not_before = not_after = None
    self_issued = False
    key_type, key_bits = "", 0
    if cert is None:
        reader.problems.append(f"certificate: {loaded.error}")
    else:
        c = cert
        with caught(reader.notes):
            subject = reader.part("subject", lambda: c.subject.rfc4514_string(), "")
            issuer = reader.part("issuer", lambda: c.issuer.rfc4514_string(), "")
            self_issued = reader.part("issuer", lambda: c.issuer == c.subject, False)
            issuer_org = reader.part("issuer",
                                     lambda: _attr(c.issuer, NameOID.ORGANIZATION_NAME), "")
            issuer_cn = reader.part("issuer", lambda: _attr(c.issuer, NameOID.COMMON_NAME), "")
            san = reader.part("extensions", lambda: _dns_names(c), ())
            not_before = reader.part("validity", lambda: c.not_valid_before_utc, None)
            not_after = reader.part("validity", lambda: c.not_valid_after_utc, None)
            key = reader.part("public key", c.public_key, None)
            if key is not None:
                key_type, key_bits = _key_of(key)
                if not spki:
                    spki = reader.part("public key", lambda: key.public_bytes(
                        serialization.Encoding.DER,
                        serialization.PublicFormat.SubjectPublicKeyInfo), b"")
    if not key_type and spki:
        try:
            key_type, key_bits = key_from_shape(spki)
        except DerError as exc:
            reader.problems.append(f"subjectPublicKeyInfo: {exc}")
    return CertificateFacts(
        sha256=hashlib.sha256(der).hexdigest(),
        der=der,
        subject=subject,
        issuer=issuer,
        self_issued=self_issued,
        san=san,
        not_before=not_before,
        not_after=not_after,
        spki_sha256=hashlib.sha256(spki).hexdigest() if spki else "",
        spki_sha512=hashlib.sha512(spki).hexdigest() if spki else "",
        key_type=key_type,
        key_bits=key_bits,
        issuer_org=issuer_org,
        issuer_cn=issuer_cn,
        problems=tuple(dict.fromkeys([*reader.problems, *reader.notes])),
    )


def _dns_names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return ()
    return tuple(str(n) for n in ext.value.get_values_for_type(x509.DNSName))
