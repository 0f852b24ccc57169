"""Certificates and keys for the lab, made with ``cryptography``, deterministic per seed.

Keys are EC P-256 derived from (seed, label); certificates use fixed dates and deterministic
ECDSA, so the same seed yields byte-identical certificates.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # P-256 group order

NOT_BEFORE = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
NOT_AFTER = dt.datetime(2036, 1, 1, tzinfo=dt.UTC)
EXPIRED_NOT_BEFORE = dt.datetime(2019, 1, 1, tzinfo=dt.UTC)
EXPIRED_NOT_AFTER = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


def derive_key(seed: int, label: str) -> ec.EllipticCurvePrivateKey:
    digest = hashlib.sha256(f"{seed}:{label}".encode()).digest()
    scalar = int.from_bytes(digest, "big") % (_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


LeafKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def leaf_key(seed: int, label: str, kind: str = "ec") -> LeafKey:
    """A leaf's key: EC P-256 or Ed25519 derived from (seed, label); RSA 2048 (``kind="rsa"``) is
    generated afresh (``cryptography`` cannot derive one from a seed): its certificates differ
    from run to run."""
    if kind == "ec":
        return derive_key(seed, label)
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.from_private_bytes(
            hashlib.sha256(f"{seed}:{label}:ed25519".encode()).digest())
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unknown key kind {kind!r}")


def _serial(label: str) -> int:
    return int.from_bytes(hashlib.sha256(label.encode()).digest()[:16], "big") >> 1


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = []
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: LeafKey  # EC for every CA and for the lab's own leaves

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def spki_der(self) -> bytes:
        return self.cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())


def make_ca(seed: int, label: str, cn: str, org: str | None,
            parent: Issued | None = None) -> Issued:
    key = derive_key(seed, f"ca:{label}")
    subject = _name(cn, org)
    issuer = parent.cert.subject if parent else subject
    signer = parent.key if parent else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(issuer).public_key(key.public_key())
        .serial_number(_serial(f"{seed}:ca:{label}"))
        .not_valid_before(NOT_BEFORE).not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                       critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if parent:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(parent.key.public_key()),
            critical=False)
    cert = builder.sign(signer, hashes.SHA256(), ecdsa_deterministic=True)
    return Issued(cert, key)


def make_leaf(seed: int, key_label: str, names: tuple[str, ...], issuer: Issued | None,
              *, expired: bool = False, serial_label: str = "", key_kind: str = "ec") -> Issued:
    """A server certificate for ``names`` (CN = first name, all in SAN); self-signed without issuer.
    ``key_kind``: "ec" (the lab's), "rsa" or "ed25519" (see :func:`leaf_key`)."""
    key = leaf_key(seed, f"leaf:{key_label}", key_kind)
    subject = _name(names[0])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(_serial(f"{seed}:leaf:{key_label}:{serial_label}:{names}"))
        .not_valid_before(EXPIRED_NOT_BEFORE if expired else NOT_BEFORE)
        .not_valid_after(EXPIRED_NOT_AFTER if expired else NOT_AFTER)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False)
    signer = issuer.key if issuer else key
    digest = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    cert = builder.sign(signer, digest,
                        ecdsa_deterministic=True if isinstance(signer, ec.EllipticCurvePrivateKey)
                        else None)
    return Issued(cert, key)


@dataclass(frozen=True)
class Authorities:
    private_root: Issued
    private_ca: Issued
    public_root: Issued
    r3: Issued
    e1: Issued

    def by_name(self, name: str) -> Issued:
        return {"private-root": self.private_root, "private-ca": self.private_ca,
                "public-root": self.public_root, "r3": self.r3, "e1": self.e1}[name]


def make_authorities(seed: int) -> Authorities:
    private_root = make_ca(seed, "private-root", "Lab Private Root", "Lab Mail Operators")
    private_ca = make_ca(seed, "private-ca", "Lab Private Issuing CA", "Lab Mail Operators",
                         private_root)
    public_root = make_ca(seed, "public-root", "Lab Public Root X1", "Internet Security Research Group")
    r3 = make_ca(seed, "r3", "R3", "Let's Encrypt", public_root)
    e1 = make_ca(seed, "e1", "E1", "Let's Encrypt", public_root)
    return Authorities(private_root, private_ca, public_root, r3, e1)


@dataclass(frozen=True)
class Presented:
    """What a server sends: leaf first, then the CAs it chooses to send; and the leaf's key."""

    chain: tuple[Issued, ...]
    root: Issued | None  # the anchor above the chain, when there is one

    @property
    def leaf(self) -> Issued:
        return self.chain[0]


def present(seed: int, cas: Authorities, profile: str, names: tuple[str, ...], key_label: str,
            key_gen: int, cert_gen: int = 0) -> Presented:
    """The chain a server with ``profile`` presents for ``names`` with key generation ``key_gen``;
    ``cert_gen`` > 0: the same key in a renewed certificate (another serial number)."""
    label = f"{key_label}#{key_gen}"
    renewal = f"~{cert_gen}" if cert_gen else ""
    if profile in ("self", "expired"):
        return Presented((make_leaf(seed, label, names, None, expired=profile == "expired",
                                    serial_label=renewal),), None)
    if profile in ("private", "private3", "wrongname"):
        leaf_names = (f"other-host.{names[0]}",) if profile == "wrongname" else names
        leaf = make_leaf(seed, label, leaf_names, cas.private_ca, serial_label=renewal)
        if profile == "private3":
            return Presented((leaf, cas.private_ca, cas.private_root), cas.private_root)
        return Presented((leaf, cas.private_ca), cas.private_root)
    if profile in ("r3", "e1"):
        ca = cas.r3 if profile == "r3" else cas.e1
        leaf = make_leaf(seed, label, names, ca, serial_label=profile + renewal)
        return Presented((leaf, ca), cas.public_root)
    raise ValueError(f"unknown certificate profile {profile!r}")
