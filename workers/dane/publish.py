"""The TLSA records to publish for a certificate, a chain or a key: pure, bytes in, records out.

The association data comes from :class:`workers.dane.certs.CertDigests` (the digests the
verdict's matching compares), so a record made here is, by construction, one the verdict matches:
:func:`records_for` checks that with ``CertDigests.matches`` before it returns.

Inputs are read in the forms operators hold: PEM (one or more CERTIFICATE blocks, or one private
or public key) and DER (one certificate, or one private or public key). A key yields only
selector 1 (SubjectPublicKeyInfo): there is no certificate to hash.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from workers.dane.certs import CertDigests, parse_cert, raw_digests
from workers.dane.loading import pem_blocks
from workers.dane.tlsa import MatchingType, Selector, TlsaRecord, Usage

_KEY_TYPES = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey,
              ed448.Ed448PrivateKey, dsa.DSAPrivateKey)
_PUBLIC_KEY_TYPES = (rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey,
                     ed448.Ed448PublicKey, dsa.DSAPublicKey)


class PublishError(ValueError):
    """The input cannot give the record asked for (one line, for the user)."""


@dataclass(frozen=True)
class Material:
    """What a file held: a chain (leaf first) or, for a key, only its SubjectPublicKeyInfo."""

    chain: tuple[CertDigests, ...] = ()
    spki: bytes = b""  # set for a key (private or public) given without a certificate

    @property
    def is_key(self) -> bool:
        return not self.chain


def key_digests(spki: bytes) -> CertDigests:
    """A key known only by its SubjectPublicKeyInfo, in the form matching uses. It has no
    certificate, so its selector-0 fields are empty and :func:`records_for` refuses selector 0."""
    return CertDigests(der=b"", spki=spki, cert_sha256=b"", cert_sha512=b"",
                       spki_sha256=hashlib.sha256(spki).digest(),
                       spki_sha512=hashlib.sha512(spki).digest())


def _digests(der: bytes) -> CertDigests | None:
    return parse_cert(der) or raw_digests(der)


def _spki_of_key(key: object) -> bytes | None:
    if isinstance(key, _KEY_TYPES):
        key = key.public_key()
    if isinstance(key, _PUBLIC_KEY_TYPES):
        return key.public_bytes(serialization.Encoding.DER,
                                serialization.PublicFormat.SubjectPublicKeyInfo)
    return None


def _load_key(data: bytes, pem: bool) -> bytes | None:
    """The SubjectPublicKeyInfo of a private or public key, or None."""
    loaded: object = None
    try:
        loaded = (serialization.load_pem_private_key(data, None) if pem
                  else serialization.load_der_private_key(data, None))
    except (ValueError, TypeError, UnsupportedAlgorithm):
        try:
            loaded = (serialization.load_pem_public_key(data) if pem
                      else serialization.load_der_public_key(data))
        except (ValueError, TypeError, UnsupportedAlgorithm):
            return None
    return _spki_of_key(loaded)


def read_material(data: bytes, what: str) -> Material:
    """Certificates (PEM bundle or one DER) or a key (PEM or DER) from a file's bytes.

    ``what`` is "cert", "key" or "any". Raises :class:`PublishError` naming the problem."""
    if b"-----BEGIN" in data:
        if what != "key" and b"CERTIFICATE-----" in data:
            chain: list[CertDigests] = []
            for i, der in enumerate(pem_blocks(data)):
                info = _digests(der) if der is not None else None
                if info is None:
                    raise PublishError(f"PEM certificate block {i + 1} is not a certificate")
                chain.append(info)
            if chain:
                return Material(chain=tuple(chain))
        if what != "cert":
            spki = _load_key(data, pem=True)
            if spki is not None:
                return Material(spki=spki)
            if b"ENCRYPTED" in data:
                raise PublishError("the key is encrypted (give it without a passphrase)")
        raise PublishError(f"no PEM {'private key' if what == 'key' else 'certificate'} in it"
                           if what != "any" else "no PEM certificate or key in it")
    if what != "key":
        info = _digests(data)
        if info is not None:
            return Material(chain=(info,))
    if what != "cert":
        spki = _load_key(data, pem=False)
        if spki is not None:
            return Material(spki=spki)
    kinds = {"cert": "a certificate", "key": "a key", "any": "a certificate or a key"}
    raise PublishError(f"not {kinds.get(what, what)} (PEM or DER)")


def chain_material(chain: tuple[bytes, ...]) -> Material:
    """A presented chain (DER blobs, leaf first) as material; unparsable elements are skipped
    beyond the leaf, a leaf without a certificate's shape is an error."""
    digests = [_digests(der) for der in chain]
    if not digests or digests[0] is None:
        raise PublishError("the server presented no certificate")
    return Material(chain=tuple(d for d in digests if d is not None))


def subject_for(material: Material, usage: int) -> CertDigests:
    """The certificate (or key) the record designates: the leaf for usages 1 and 3, its issuer
    (the next certificate of the chain) for usages 0 and 2. A key stands for itself."""
    if material.is_key:
        return key_digests(material.spki)
    if usage in (Usage.DANE_EE, Usage.PKIX_EE):
        return material.chain[0]
    if len(material.chain) < 2:
        raise PublishError(f"usage {usage} needs the issuer's certificate, and there is none "
                           "after the leaf (give the chain)")
    return material.chain[1]


def records_for(material: Material, usage: int, selectors: tuple[int, ...],
                mtypes: tuple[int, ...]) -> list[TlsaRecord]:
    """One record per (selector, matching type), in that order."""
    if usage not in tuple(Usage):
        raise PublishError(f"unknown usage {usage} (0-3)")
    if usage in (Usage.PKIX_TA, Usage.PKIX_EE):
        # RFC 7672 section 3.1.3: SMTP clients treat PKIX-TA(0) and PKIX-EE(1) as unusable
        # (a host whose records are all unusable gets no authentication), so never publish them.
        raise PublishError(f"usage {usage} (PKIX) is unusable for SMTP (RFC 7672 3.1.3): "
                           f"use 3 (DANE-EE) or 2 (DANE-TA)")
    subject = subject_for(material, usage)
    out: list[TlsaRecord] = []
    for selector in selectors:
        if selector not in tuple(Selector):
            raise PublishError(f"unknown selector {selector} (0 or 1)")
        if selector == Selector.CERT and material.is_key:
            raise PublishError("a key yields only selector 1 (SubjectPublicKeyInfo)")
        for mtype in mtypes:
            if mtype not in tuple(MatchingType):
                raise PublishError(f"unknown matching type {mtype} (0, 1 or 2)")
            record = TlsaRecord(usage, selector, mtype, subject.association(selector, mtype))
            if not subject.matches(record):  # the verdict's own test: never publish otherwise
                raise AssertionError(f"record {record} does not match its certificate")
            out.append(record)
    return out


def zone_line(owner: str, ttl: int | None, record: TlsaRecord) -> str:
    """``_25._tcp.mx.example.com. 3600 IN TLSA 3 1 1 <hex>`` (owner absolute)."""
    ttl_text = f"{ttl} " if ttl is not None else ""
    return f"{owner} {ttl_text}IN TLSA {record}"
