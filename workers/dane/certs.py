"""Certificates with the digests DANE matching needs, computed once per certificate."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from workers.dane.tlsa import MatchingType, Selector, TlsaRecord


@dataclass(frozen=True)
class CertInfo:
    """A parsed certificate: DER, SPKI DER and their SHA-256/SHA-512 digests."""

    der: bytes
    cert: x509.Certificate = field(compare=False, repr=False)
    key: CertificatePublicKeyTypes = field(compare=False, repr=False)
    spki: bytes = field(repr=False)
    cert_sha256: bytes
    cert_sha512: bytes = field(repr=False)
    spki_sha256: bytes
    spki_sha512: bytes = field(repr=False)

    def association(self, selector: int, mtype: int) -> bytes:
        """The certificate association data this certificate has under (selector, mtype)."""
        if selector == Selector.CERT:
            if mtype == MatchingType.SHA256:
                return self.cert_sha256
            if mtype == MatchingType.SHA512:
                return self.cert_sha512
            return self.der
        if mtype == MatchingType.SHA256:
            return self.spki_sha256
        if mtype == MatchingType.SHA512:
            return self.spki_sha512
        return self.spki

    def matches(self, record: TlsaRecord) -> bool:
        """The record's selector/mtype/data designate this certificate (usage not considered)."""
        if record.selector > Selector.SPKI or record.mtype > MatchingType.SHA512:
            return False
        return self.association(record.selector, record.mtype) == record.data

    def valid_at(self, now: datetime) -> bool:
        return self.cert.not_valid_before_utc <= now <= self.cert.not_valid_after_utc


def cert_info(cert: x509.Certificate, der: bytes | None = None) -> CertInfo:
    raw = cert.public_bytes(Encoding.DER) if der is None else der
    key = cert.public_key()
    spki = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return CertInfo(
        der=raw,
        cert=cert,
        key=key,
        spki=spki,
        cert_sha256=hashlib.sha256(raw).digest(),
        cert_sha512=hashlib.sha512(raw).digest(),
        spki_sha256=hashlib.sha256(spki).digest(),
        spki_sha512=hashlib.sha512(spki).digest(),
    )


def parse_cert(der: bytes) -> CertInfo | None:
    """Parse one DER certificate; None if it does not parse or its key is unsupported."""
    try:
        return cert_info(x509.load_der_x509_certificate(der), der)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None


@dataclass(frozen=True)
class PresentedChain:
    """The chain a server sent, leaf first, parsed once.

    ``certs`` holds the certificates that parsed, each with its position in the chain as sent
    (``positions``); ``sha256`` has the SHA-256 of every DER blob, parsable or not.
    """

    certs: tuple[CertInfo, ...]
    positions: tuple[int, ...]
    sha256: tuple[bytes, ...]

    @property
    def leaf(self) -> CertInfo | None:
        return self.certs[0] if self.certs and self.positions[0] == 0 else None


def parse_chain(chain: tuple[bytes, ...] | list[bytes]) -> PresentedChain:
    certs: list[CertInfo] = []
    positions: list[int] = []
    for i, der in enumerate(chain):
        info = parse_cert(der)
        if info is not None:
            certs.append(info)
            positions.append(i)
    return PresentedChain(
        certs=tuple(certs),
        positions=tuple(positions),
        sha256=tuple(hashlib.sha256(d).digest() for d in chain),
    )
