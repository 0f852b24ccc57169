"""Certificates ``cryptography``'s builder refuses to make, written as DER by hand.

Hostile servers present them: keys on curves ``cryptography`` does not load (prime239v1,
prime192v2, SM2), an unknown key algorithm, a 70,000-bit RSA modulus (not a real key: a number of
that size), an EC key with explicit curve parameters, a serial number of zero, dates outside
1970..2106, a duplicated extension, a validity field no parser accepts. Each is signed for real
(ECDSA P-256 with SHA-256) by the key given, so a chain of them verifies where it can. Pure: bytes
and keys in, DER out.
"""

from __future__ import annotations

import datetime as dt

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

EC_PUBLIC_KEY = "1.2.840.10045.2.1"
ECDSA_SHA256 = "1.2.840.10045.4.3.2"
RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
COMMON_NAME = "2.5.4.3"
SUBJECT_ALT_NAME = "2.5.29.17"
PRIME_FIELD = "1.2.840.10045.1.1"
CURVES = {
    "prime239v1": "1.2.840.10045.3.1.4",
    "prime192v2": "1.2.840.10045.3.1.2",
    "sm2": "1.2.156.10197.1.301",
}
# Each curve's generator (uncompressed, from `openssl ecparam -param_enc explicit -text`): a valid
# point, so that OpenSSL, which knows these curves, decodes the key the server sends.
GENERATORS = {
    "prime239v1": "040ffa963cdca8816ccc33b8642bedf905c3d358573d3f27fbbd3b3cb9aaaf"
                  "7debe8e4e90a5dae6e4054ca530ba04654b36818ce226b39fccb7b02f1ae",
    "prime192v2": "04eea2bae7e1497842f2de7769cfe9c989c072ad696f48034a"
                  "6574d11d69b6ec7a672bb82a083df2f2b0847de970b2de15",
    "sm2": "0432c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7"
           "bc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0",
}
UNKNOWN_ALGORITHM = "1.3.6.1.4.1.55555.7.1"  # a private-enterprise arc nobody implements
# NIST P-256 (SEC 2, 2.4.2): the parameters written out in full in an explicit-curve SPKI
P256 = {
    "p": 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF,
    "a": 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFC,
    "b": 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
    "gx": 0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    "gy": 0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
    "n": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
}


def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _len(len(content)) + content


def seq(*parts: bytes) -> bytes:
    return tlv(0x30, b"".join(parts))


def integer(n: int) -> bytes:
    """A DER INTEGER, negative and zero included (two's complement, minimal)."""
    size = max(1, (n.bit_length() + 8) // 8)
    return tlv(0x02, n.to_bytes(size, "big", signed=True))


def oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return tlv(0x06, bytes(out))


def bit_string(data: bytes) -> bytes:
    return tlv(0x03, b"\x00" + data)


def octets(data: bytes) -> bytes:
    return tlv(0x04, data)


def time_value(when: dt.datetime) -> bytes:
    """UTCTime for 1950..2049 (RFC 5280 4.1.2.5), GeneralizedTime otherwise."""
    if 1950 <= when.year < 2050:
        return tlv(0x17, when.strftime("%y%m%d%H%M%SZ").encode())
    return tlv(0x18, f"{when.year:04d}{when.strftime('%m%d%H%M%S')}Z".encode())


def name(cn: str) -> bytes:
    return seq(tlv(0x31, seq(oid(COMMON_NAME), tlv(0x0C, cn.encode()))))


def san(*dns_names: str) -> bytes:
    """A subjectAltName extension with dNSName entries."""
    names = b"".join(tlv(0x82, n.encode()) for n in dns_names)
    return seq(oid(SUBJECT_ALT_NAME), octets(seq(names)))


def ec_spki(curve: str, point: bytes) -> bytes:
    """An EC SubjectPublicKeyInfo on the named curve ``curve`` (an OID); the point is not checked."""
    return seq(seq(oid(EC_PUBLIC_KEY), oid(curve)), bit_string(point))


def rsa_spki(modulus: int, exponent: int = 65537) -> bytes:
    return seq(seq(oid(RSA_ENCRYPTION), tlv(0x05, b"")),
               bit_string(seq(integer(modulus), integer(exponent))))


def unknown_spki(algorithm: str = UNKNOWN_ALGORITHM, key: bytes = b"\x01" * 32) -> bytes:
    return seq(seq(oid(algorithm)), bit_string(key))


def explicit_p256_spki(key: ec.EllipticCurvePublicKey) -> bytes:
    """``key`` (a P-256 key) with the curve written out (ECParameters), not named: OpenSSL keeps
    these bytes as sent, ``cryptography`` re-encodes the key with the curve's name."""
    if not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("explicit_p256_spki takes a P-256 key")
    point = key.public_bytes(serialization.Encoding.X962,
                             serialization.PublicFormat.UncompressedPoint)
    base = b"\x04" + P256["gx"].to_bytes(32, "big") + P256["gy"].to_bytes(32, "big")
    params = seq(
        integer(1),
        seq(oid(PRIME_FIELD), integer(P256["p"])),
        seq(octets(P256["a"].to_bytes(32, "big")), octets(P256["b"].to_bytes(32, "big"))),
        octets(base),
        integer(P256["n"]),
        integer(1),
    )
    return seq(seq(oid(EC_PUBLIC_KEY), params), bit_string(point))


def named_spki(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def certificate(
    *,
    spki: bytes,
    subject: str,
    issuer: str,
    signer: ec.EllipticCurvePrivateKey,
    serial: int = 2,
    not_before: dt.datetime = dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    not_after: dt.datetime = dt.datetime(2044, 1, 1, tzinfo=dt.UTC),
    extensions: tuple[bytes, ...] = (),
    raw_validity: bytes | None = None,
) -> bytes:
    """A v3 certificate signed by ``signer`` (ECDSA with SHA-256). ``raw_validity``: the
    Validity SEQUENCE as given, for values no builder writes."""
    algorithm = seq(oid(ECDSA_SHA256))
    validity = raw_validity or seq(time_value(not_before), time_value(not_after))
    parts = [tlv(0xA0, integer(2)), integer(serial), algorithm, name(issuer), validity,
             name(subject), spki]
    if extensions:
        parts.append(tlv(0xA3, seq(*extensions)))
    tbs = seq(*parts)
    signature = signer.sign(tbs, ec.ECDSA(hashes.SHA256()))
    return seq(tbs, algorithm, bit_string(signature))


def odd_key_certificates(signer: ec.EllipticCurvePrivateKey, issuer: str) -> dict[str, bytes]:
    """CA-less certificates (to send above a leaf) whose keys ``cryptography`` cannot load or
    whose size overflowed a column: name -> DER."""
    out = {
        f"ec-{curve}": certificate(spki=ec_spki(CURVES[curve], bytes.fromhex(GENERATORS[curve])),
                                   subject=f"odd {curve}", issuer=issuer, signer=signer)
        for curve in ("prime239v1", "prime192v2", "sm2")
    }
    return {
        **out,
        "unknown-algorithm": certificate(spki=unknown_spki(), subject="odd unknown algorithm",
                                         issuer=issuer, signer=signer),
        "rsa-70000": certificate(spki=rsa_spki((1 << 69999) | (0x5A5A << 512) | 1),
                                 subject="odd rsa 70000", issuer=issuer, signer=signer),
    }


def quirky_leaf(key: ec.EllipticCurvePrivateKey, host: str, signer: ec.EllipticCurvePrivateKey,
                issuer: str, *, duplicate_san: bool = False) -> bytes:
    """A leaf for ``key`` that ``cryptography`` loads only with a warning (serial 0) and whose
    dates do not fit ClickHouse's DateTime (1950 .. 9999). ``duplicate_san``: its subjectAltName
    twice (``cryptography`` raises on its extensions; OpenSSL will not serve it as a leaf, but
    sends it as a chain certificate)."""
    return certificate(spki=named_spki(key.public_key()), subject=host, issuer=issuer,
                       signer=signer, serial=0,
                       not_before=dt.datetime(1950, 1, 1, tzinfo=dt.UTC),
                       not_after=dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC),
                       extensions=(san(host), san(host)) if duplicate_san else (san(host),))


def unloadable_leaf(key: ec.EllipticCurvePrivateKey, host: str,
                    signer: ec.EllipticCurvePrivateKey, issuer: str) -> bytes:
    """A leaf for ``key`` whose notBefore is not a time ("2401010000xxZ"): OpenSSL loads and
    sends it, ``cryptography`` refuses to load it at all."""
    validity = seq(tlv(0x17, b"2401010000xxZ"),
                   time_value(dt.datetime(2044, 1, 1, tzinfo=dt.UTC)))
    return certificate(spki=named_spki(key.public_key()), subject=host, issuer=issuer,
                       signer=signer, raw_validity=validity, extensions=(san(host),))


def explicit_curve_leaf(key: ec.EllipticCurvePrivateKey, host: str,
                        signer: ec.EllipticCurvePrivateKey, issuer: str) -> bytes:
    """A leaf for the P-256 ``key`` with the curve's parameters written out in its SPKI."""
    return certificate(spki=explicit_p256_spki(key.public_key()), subject=host, issuer=issuer,
                       signer=signer, extensions=(san(host),))
