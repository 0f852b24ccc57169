"""A minimal DER reader: the parts of a certificate DANE needs when ``cryptography`` cannot load it.

DANE-EE ``3 1 x`` matches the SubjectPublicKeyInfo *as the certificate carries it* (OpenSSL
hashes the encoded X509_PUBKEY), so its bytes are cut out of the DER here rather than re-encoded
from a parsed key: this works for any key algorithm, any curve and any size, and keeps unusual
encodings byte for byte. Only definite lengths (DER), at most 4 length octets; every offset is
checked against the buffer, so hostile input gives ``DerError``, never an IndexError or a huge
allocation. Pure: bytes in, bytes out.

    Certificate  ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
    TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer,
                                  validity, subject, subjectPublicKeyInfo, ... }
    SubjectPublicKeyInfo ::= SEQUENCE { AlgorithmIdentifier, subjectPublicKey BIT STRING }
    AlgorithmIdentifier  ::= SEQUENCE { algorithm OBJECT IDENTIFIER, parameters ANY OPTIONAL }
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

SEQUENCE = 0x30
INTEGER = 0x02
BIT_STRING = 0x03
OID = 0x06
CONTEXT_0 = 0xA0

RSA_OID = "1.2.840.113549.1.1.1"
RSA_PSS_OID = "1.2.840.113549.1.1.10"
EC_OID = "1.2.840.10045.2.1"


class DerError(ValueError):
    """The bytes are not the DER structure expected at this point."""


class Tlv(NamedTuple):  # a tuple: made for every element walked, so made cheaply
    tag: int
    start: int  # offset of the tag octet
    body: int  # offset of the first content octet
    end: int  # offset after the last content octet

    def raw(self, buf: bytes) -> bytes:
        return buf[self.start : self.end]

    def content(self, buf: bytes) -> bytes:
        return buf[self.body : self.end]


def read_tlv(buf: bytes, off: int, limit: int | None = None) -> Tlv:
    """The element starting at ``off``, which must end by ``limit`` (default: the buffer)."""
    end_limit = len(buf) if limit is None else limit
    if off + 2 > end_limit:
        raise DerError(f"element at {off} runs past its container")
    tag = buf[off]
    if tag & 0x1F == 0x1F:
        raise DerError(f"multi-octet tag at {off}")
    first = buf[off + 1]
    pos = off + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4:
            raise DerError(f"unsupported length form at {off}")
        if pos + count > end_limit:
            raise DerError(f"length of element at {off} runs past its container")
        length = int.from_bytes(buf[pos : pos + count], "big")
        pos += count
    if pos + length > end_limit:
        raise DerError(f"element at {off} ({length} octets) runs past its container")
    return Tlv(tag, off, pos, pos + length)


def children(buf: bytes, parent: Tlv) -> list[Tlv]:
    """The elements inside a constructed element, in order."""
    out: list[Tlv] = []
    off = parent.body
    while off < parent.end:
        child = read_tlv(buf, off, parent.end)
        out.append(child)
        off = child.end
    return out


def _expect(tlv: Tlv, tag: int, what: str) -> Tlv:
    if tlv.tag != tag:
        raise DerError(f"{what}: tag 0x{tlv.tag:02x}, expected 0x{tag:02x}")
    return tlv


def decode_oid(content: bytes) -> str:
    """Dotted text of an OBJECT IDENTIFIER's content octets."""
    if not content or content[-1] & 0x80:
        raise DerError("malformed OBJECT IDENTIFIER")
    arcs: list[int] = []
    value = 0
    for octet in content:
        value = (value << 7) | (octet & 0x7F)
        if not octet & 0x80:
            arcs.append(value)
            value = 0
    first = arcs[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(a) for a in head + arcs[1:])


def tbs_fields(der: bytes) -> list[Tlv]:
    """The elements of the tbsCertificate, version included when present."""
    cert = _expect(read_tlv(der, 0), SEQUENCE, "Certificate")
    if cert.end != len(der):
        raise DerError("bytes after the Certificate")
    parts = children(der, cert)
    if len(parts) != 3:
        raise DerError(f"Certificate has {len(parts)} elements, not 3")
    return children(der, _expect(parts[0], SEQUENCE, "tbsCertificate"))


def certificate_spki(der: bytes) -> bytes:
    """The SubjectPublicKeyInfo of a DER certificate, exactly as encoded in it."""
    fields = tbs_fields(der)
    if fields and fields[0].tag == CONTEXT_0:
        fields = fields[1:]
    if len(fields) < 6:
        raise DerError("tbsCertificate too short")
    _expect(fields[0], INTEGER, "serialNumber")
    spki = _expect(fields[5], SEQUENCE, "subjectPublicKeyInfo")
    parts = children(der, spki)
    if len(parts) != 2 or parts[0].tag != SEQUENCE or parts[1].tag != BIT_STRING:
        raise DerError("subjectPublicKeyInfo is not {AlgorithmIdentifier, BIT STRING}")
    return spki.raw(der)


@dataclass(frozen=True, slots=True)
class SpkiShape:
    """What a SubjectPublicKeyInfo says without parsing the key: the algorithm, its parameters
    when they are an OID (an EC curve), and the key's size in bits when it can be told from the
    encoding (RSA: the modulus; otherwise 0)."""

    algorithm: str
    parameter: str  # the curve OID for EC keys, "" otherwise
    key_bits: int


def spki_algorithm(spki: bytes) -> SpkiShape:
    """The algorithm of a DER SubjectPublicKeyInfo (see :class:`SpkiShape`)."""
    top = _expect(read_tlv(spki, 0), SEQUENCE, "SubjectPublicKeyInfo")
    parts = children(spki, top)
    if len(parts) != 2:
        raise DerError("SubjectPublicKeyInfo has not 2 elements")
    alg_id = children(spki, _expect(parts[0], SEQUENCE, "AlgorithmIdentifier"))
    if not alg_id:
        raise DerError("empty AlgorithmIdentifier")
    algorithm = decode_oid(_expect(alg_id[0], OID, "algorithm").content(spki))
    parameter = ""
    if len(alg_id) > 1 and alg_id[1].tag == OID:
        parameter = decode_oid(alg_id[1].content(spki))
    key = _expect(parts[1], BIT_STRING, "subjectPublicKey")
    bits = 0
    if algorithm in (RSA_OID, RSA_PSS_OID):
        bits = _rsa_modulus_bits(spki, key)
    return SpkiShape(algorithm, parameter, bits)


def _rsa_modulus_bits(buf: bytes, key: Tlv) -> int:
    """Bits of the modulus of an RSAPublicKey inside the BIT STRING; 0 if it is not one."""
    if key.end - key.body < 1 or buf[key.body] != 0:
        return 0
    try:
        inner = read_tlv(buf, key.body + 1, key.end)
        fields = children(buf, inner) if inner.tag == SEQUENCE else []
    except DerError:
        return 0
    if not fields or fields[0].tag != INTEGER:
        return 0
    modulus = fields[0].content(buf).lstrip(b"\x00")
    return (len(modulus) - 1) * 8 + modulus[0].bit_length() if modulus else 0
