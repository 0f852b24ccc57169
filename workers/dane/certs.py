"""Certificates with the digests DANE matching needs, computed once per certificate.

The SubjectPublicKeyInfo is cut out of the DER as the certificate carries it (workers.dane.der),
as OpenSSL hashes it for ``x 1 x`` records: re-encoding a parsed key can differ (an EC key with
explicit curve parameters is re-encoded by ``cryptography`` as a named curve), and a key that
``cryptography`` cannot load at all (a curve it does not know, an unknown algorithm) still has its
bytes. Such a certificate parses with ``key`` None: it matches TLSA records but verifies nothing.
A certificate ``cryptography`` cannot load at all is known only by its digests
(:class:`CertDigests`, ``PresentedChain.raw_leaf``), which is all DANE-EE needs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from workers.dane.der import DerError, certificate_spki
from workers.dane.loading import CERT_ERRORS, caught, load_der
from workers.dane.tlsa import MatchingType, Selector, TlsaRecord


@dataclass(frozen=True)
class CertDigests:
    """A certificate as DANE matching sees it: DER, SPKI DER and their SHA-256/SHA-512 digests."""

    der: bytes
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


@dataclass(frozen=True)
class CertInfo(CertDigests):
    """A certificate ``cryptography`` parsed. ``key`` is None when it cannot load the public key
    (the SPKI digests still come from the DER)."""

    cert: x509.Certificate = field(compare=False, repr=False)
    key: CertificatePublicKeyTypes | None = field(compare=False, repr=False)

    def valid_at(self, now: datetime) -> bool:
        return self.cert.not_valid_before_utc <= now <= self.cert.not_valid_after_utc


def raw_digests(der: bytes) -> CertDigests | None:
    """Digests of a certificate known only by its bytes; None if its DER does not even have the
    shape of a certificate (no SubjectPublicKeyInfo can be cut out)."""
    try:
        spki = certificate_spki(der)
    except DerError:
        return None
    return CertDigests(
        der=der,
        spki=spki,
        cert_sha256=hashlib.sha256(der).digest(),
        cert_sha512=hashlib.sha512(der).digest(),
        spki_sha256=hashlib.sha256(spki).digest(),
        spki_sha512=hashlib.sha512(spki).digest(),
    )


def cert_info(cert: x509.Certificate, der: bytes | None = None) -> CertInfo:
    """ValueError when no SubjectPublicKeyInfo can be had (neither from the DER nor the key)."""
    raw = cert.public_bytes(Encoding.DER) if der is None else der
    notes: list[str] = []
    key: CertificatePublicKeyTypes | None
    try:
        with caught(notes):
            key = cert.public_key()
    except CERT_ERRORS:
        key = None
    try:  # parsed lazily (and cached): a name that does not decode must not raise later, in
        _ = (cert.subject, cert.issuer)  # the verdict's chain walk; OpenSSL refuses them too
    except CERT_ERRORS:
        raise ValueError("the subject or issuer name cannot be decoded") from None
    try:
        spki = certificate_spki(raw)
    except DerError:
        if key is None:
            raise ValueError("no SubjectPublicKeyInfo in the certificate") from None
        spki = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return CertInfo(
        der=raw,
        spki=spki,
        cert_sha256=hashlib.sha256(raw).digest(),
        cert_sha512=hashlib.sha512(raw).digest(),
        spki_sha256=hashlib.sha256(spki).digest(),
        spki_sha512=hashlib.sha512(spki).digest(),
        cert=cert,
        key=key,
    )


def parse_cert(der: bytes) -> CertInfo | None:
    """Parse one DER certificate (quietly: see workers.dane.loading); None if ``cryptography``
    cannot load it. A certificate whose key it cannot load parses, with ``key`` None."""
    loaded = load_der(der)
    if loaded.cert is None:
        return None
    try:
        return cert_info(loaded.cert, der)
    except ValueError:
        return None


@dataclass(frozen=True)
class PresentedChain:
    """The chain a server sent, leaf first, parsed once.

    ``certs`` holds the certificates that parsed, each with its position in the chain as sent
    (``positions``); ``sha256`` has the SHA-256 of every DER blob, parsable or not. ``raw_leaf``:
    the digests of a leaf ``cryptography`` cannot load but whose DER has a certificate's shape
    (enough for DANE-EE matching); None when the leaf parsed or is not even that.
    """

    certs: tuple[CertInfo, ...]
    positions: tuple[int, ...]
    sha256: tuple[bytes, ...]
    raw_leaf: CertDigests | None = None

    @property
    def leaf(self) -> CertInfo | None:
        return self.certs[0] if self.certs and self.positions[0] == 0 else None

    @property
    def leaf_digests(self) -> CertDigests | None:
        """The leaf's digests, parsed or raw."""
        return self.leaf or self.raw_leaf


def parse_chain(chain: tuple[bytes, ...] | list[bytes]) -> PresentedChain:
    certs: list[CertInfo] = []
    positions: list[int] = []
    for i, der in enumerate(chain):
        info = parse_cert(der)
        if info is not None:
            certs.append(info)
            positions.append(i)
    raw_leaf = raw_digests(chain[0]) if chain and (not positions or positions[0] != 0) else None
    return PresentedChain(
        certs=tuple(certs),
        positions=tuple(positions),
        sha256=tuple(hashlib.sha256(d).digest() for d in chain),
        raw_leaf=raw_leaf,
    )
