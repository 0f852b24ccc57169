"""Certification paths: DANE-TA(2) anchors and PKIX paths to a root store.

Written by hand rather than with ``cryptography.x509.verification``: that verifier needs a
certificate (not a bare key) as anchor, always applies the CA/Browser Forum profile (it rejects,
e.g., OpenSSL's own DANE test CAs for a non-critical basicConstraints), and cannot report the
depth at which a TLSA record matched. The checks here follow OpenSSL's ``X509_verify_cert`` as
Postfix uses it, reduced to what decides a DANE verdict:

* each link: the issuer's subject equals the child's issuer name and the issuer's key verifies
  the child's signature (RSA PKCS#1 v1.5/PSS, ECDSA, Ed25519, Ed448, DSA);
* certificates *below* the trust anchor (intermediates and the leaf) must be valid at ``now``;
  intermediates must be CAs (basicConstraints cA, or a v1 certificate), with keyCertSign when
  keyUsage is present, within any pathLenConstraint; a leaf with an extendedKeyUsage must allow
  serverAuth (OpenSSL's "ssl_server" purpose);
* a DANE-TA anchor is only a key (RFC 5280 section 6.1.1 d; RFC 7671 section 5.2: the TLSA
  record designates a trust anchor), so the anchor certificate's extensions are not checked, and
  its dates are not part of the path. OpenSSL (3.0, measured with s_client -dane_tlsa_rrdata)
  does check the dates of the top of the path when that top is a *self-issued* certificate (a
  root sent in the chain, or given in full by a ``2 0 0`` record), for any selector: "certificate
  has expired". It does not for a non-self-issued CA certificate at the top nor for a bare key
  (``2 1 0``). :class:`TaPath` reports that fact as ``ta_dates_ok``; the verdict's RFC view
  follows OpenSSL and Postfix, the paper view the RFC 5280 reading.
* PKIX roots (paper view) are checked for dates too, as OpenSSL does.

Path building is a depth-first search over the presented certificates with a work budget, so a
hostile chain (many certificates with the same subject) cannot make one verdict expensive.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID

from workers.dane.certs import CertInfo, cert_info
from workers.dane.loading import CERT_ERRORS, describe, load_der, pem_blocks

MAX_PATH_LENGTH = 64  # certificates in one path; OpenSSL's default verify depth is 100

_log = logging.getLogger(__name__)


def signature_ok(child: x509.Certificate, key: CertificatePublicKeyTypes) -> bool:
    """Does ``key`` verify ``child``'s signature? Unsupported combinations are False."""
    try:
        params = child.signature_algorithm_parameters
        digest = child.signature_hash_algorithm
        sig, tbs = child.signature, child.tbs_certificate_bytes
        if isinstance(key, rsa.RSAPublicKey):
            if not isinstance(params, padding.PKCS1v15 | padding.PSS) or digest is None:
                return False
            key.verify(sig, tbs, params, digest)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            if not isinstance(params, ec.ECDSA):
                return False
            key.verify(sig, tbs, params)
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(sig, tbs)
        elif isinstance(key, dsa.DSAPublicKey):
            if digest is None:
                return False
            key.verify(sig, tbs, digest)
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True


def leaf_ok(leaf: CertInfo, now: datetime) -> bool:
    """Leaf checks under a trust anchor: dates, and serverAuth if the EKU is restricted."""
    if not leaf.valid_at(now):
        return False
    try:
        eku = leaf.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return True
    except CERT_ERRORS:  # malformed or duplicate extensions: OpenSSL refuses such a certificate
        return False
    return (
        ExtendedKeyUsageOID.SERVER_AUTH in eku or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in eku
    )


def intermediate_ok(ca: CertInfo, cas_below: int, now: datetime) -> bool:
    """May ``ca`` issue the certificate below it? ``cas_below``: CA certificates under it."""
    if not ca.valid_at(now):
        return False
    try:
        exts = ca.cert.extensions
    except CERT_ERRORS:
        return False
    try:
        bc = exts.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return ca.cert.version == x509.Version.v1
    if not bc.ca or (bc.path_length is not None and cas_below > bc.path_length):
        return False
    try:
        ku = exts.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return ku.key_cert_sign


@dataclass(frozen=True)
class Anchor:
    """A trust anchor given in full in a TLSA record: a certificate's key and subject, or a key.
    ``cert``: the record's certificate (None for a bare key), for OpenSSL's date check."""

    key: CertificatePublicKeyTypes = field(compare=False)
    subject: x509.Name | None  # None: a bare SubjectPublicKeyInfo
    cert: CertInfo | None = field(default=None, compare=False)

    @property
    def bare_key(self) -> bool:
        return self.subject is None


class PathWork:
    """Per-verdict state: the scan time, memoised signature checks and a work budget."""

    def __init__(self, now: datetime, budget: int) -> None:
        self.now = now
        self.budget = budget
        self._sigs: dict[tuple[int, int], bool] = {}

    def signed(self, child: CertInfo, key: CertificatePublicKeyTypes | None) -> bool:
        """``key`` None (a key ``cryptography`` cannot load) verifies nothing."""
        if key is None:
            return False
        memo_key = (id(child), id(key))
        cached = self._sigs.get(memo_key)
        if cached is None:
            self.budget -= 1
            cached = signature_ok(child.cert, key)
            self._sigs[memo_key] = cached
        return cached

    def spend(self) -> bool:
        self.budget -= 1
        return self.budget >= 0


def work_for(n_certs: int) -> int:
    """Budget for one verdict: linear in the chain length."""
    return 256 + 32 * n_certs


def _issuers(pool: tuple[CertInfo, ...]) -> dict[x509.Name, list[int]]:
    by_subject: dict[x509.Name, list[int]] = {}
    for i, c in enumerate(pool):
        by_subject.setdefault(c.cert.subject, []).append(i)
    return by_subject


@dataclass(frozen=True)
class TaPath:
    """Where a DANE-TA record anchored the chain: depth as OpenSSL reports it."""

    depth: int
    leaf_ok: bool
    ta_dates_ok: bool = True  # False: the top is a self-issued certificate outside its dates


def openssl_ta_dates_ok(top: CertInfo | None, now: datetime) -> bool:
    """OpenSSL's check of a DANE-TA anchor's dates: only a self-issued top certificate's."""
    if top is None or top.cert.subject != top.cert.issuer:
        return True
    return top.valid_at(now)


def dane_ta_path(
    chain: tuple[CertInfo, ...],
    matches: Iterable[int],
    anchor: Anchor | None,
    work: PathWork,
) -> TaPath | None:
    """Build a path from the leaf to a DANE-TA anchor.

    ``matches``: indexes (>= 1) into ``chain`` of the certificates the record designates; such a
    certificate is the anchor at its depth. ``anchor``: the record's own certificate or key (Full(0)
    data), which anchors the top-most path element it signed: at that element's depth + 1 for a
    certificate, at that element's depth for a bare key (OpenSSL's conventions). None if no path
    reaches an anchor with valid intermediates.
    """
    if not chain:
        return None
    matched = frozenset(matches)
    by_subject = _issuers(chain)
    top: list[CertInfo | None] = [None]  # the certificate the path ends at (None: a bare key)

    def walk(idx: int, depth: int, used: frozenset[int]) -> int | None:
        if not work.spend() or depth >= MAX_PATH_LENGTH:
            return None
        node = chain[idx]
        if depth >= 1 and idx in matched:
            top[0] = node
            return depth
        if depth >= 1 and not intermediate_ok(node, depth - 1, work.now):
            return None
        if anchor is not None and work.signed(node, anchor.key):
            if anchor.bare_key:
                return depth
            if anchor.subject == node.cert.issuer:
                top[0] = anchor.cert
                return depth + 1
        for j in by_subject.get(node.cert.issuer, ()):
            if work.budget < 0:
                return None
            if j in used or not work.signed(node, chain[j].key):
                continue
            found = walk(j, depth + 1, used | {j})
            if found is not None:
                return found
        return None

    depth = walk(0, 0, frozenset({0}))
    if depth is None:
        return None
    return TaPath(depth=depth, leaf_ok=leaf_ok(chain[0], work.now),
                  ta_dates_ok=openssl_ta_dates_ok(top[0], work.now))


def _label(cert: x509.Certificate) -> str:
    try:
        return f"root {cert.subject.rfc4514_string()}"
    except CERT_ERRORS:
        return "root (unreadable subject)"


@dataclass(frozen=True)
class TrustStore:
    """PKIX root certificates (paper view), indexed by subject. Build once, reuse for every MX.

    A root that cannot serve (``cryptography`` cannot load it or its key) is skipped, and said
    so in ``skipped`` (one line each: position, subject when known, why); ``notes`` lists the
    roots loaded with a quirk ``cryptography`` warns about (``non-positive-serial``: the Mozilla
    bundle has roots with serial number 0). Nothing is printed.
    """

    roots: tuple[CertInfo, ...]
    by_subject: Mapping[x509.Name, tuple[CertInfo, ...]] = field(compare=False, repr=False)
    ders: frozenset[bytes] = field(repr=False)
    skipped: tuple[str, ...] = field(default=(), compare=False)
    notes: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_certs(
        cls,
        certs: Iterable[x509.Certificate],
        skipped: Iterable[str] = (),
        notes: Iterable[str] = (),
    ) -> TrustStore:
        infos: list[CertInfo] = []
        dropped = list(skipped)
        for c in certs:
            try:
                info = cert_info(c)
            except ValueError as exc:
                dropped.append(f"{_label(c)}: {describe(exc)}")
                continue
            if info.key is None:
                dropped.append(f"{_label(c)}: public key cannot be loaded")
                continue
            infos.append(info)
        index: dict[x509.Name, list[CertInfo]] = {}
        for info in infos:
            index.setdefault(info.cert.subject, []).append(info)
        store = cls(
            roots=tuple(infos),
            by_subject={k: tuple(v) for k, v in index.items()},
            ders=frozenset(i.der for i in infos),
            skipped=tuple(dropped),
            notes=tuple(notes),
        )
        _log.debug("trust store: %d roots, %d skipped, %d with notes",
                   len(store.roots), len(store.skipped), len(store.notes))
        return store

    @classmethod
    def from_der(cls, ders: Iterable[bytes | None]) -> TrustStore:
        """Roots from DER blobs (None: a blob that could not even be decoded)."""
        certs: list[x509.Certificate] = []
        skipped: list[str] = []
        notes: list[str] = []
        for i, der in enumerate(ders):
            if der is None:
                skipped.append(f"root {i}: not base64")
                continue
            loaded = load_der(der)
            if loaded.cert is None:
                skipped.append(f"root {i}: {loaded.error}")
                continue
            notes.extend(f"{_label(loaded.cert)}: {n}" for n in loaded.notes)
            certs.append(loaded.cert)
        return cls.from_certs(certs, skipped, notes)

    @classmethod
    def from_pem(cls, pem: bytes) -> TrustStore:
        return cls.from_der(pem_blocks(pem))


def pkix_path(
    chain: tuple[CertInfo, ...],
    extra: tuple[CertInfo, ...],
    store: TrustStore,
    work: PathWork,
) -> tuple[CertInfo, ...] | None:
    """A PKIX path leaf -> ... -> a root of ``store``, the root included; None if there is none.

    Untrusted issuers come from the presented chain and from ``extra`` (PKIX-TA Full(0)
    certificates published in DNS, which OpenSSL adds to the untrusted pool).
    """
    if not chain:
        return None
    pool = chain + tuple(e for e in extra if e.der not in {c.der for c in chain})
    by_subject = _issuers(pool)
    now = work.now
    leaf = chain[0]
    if not leaf_ok(leaf, now):
        return None

    def walk(idx: int, depth: int, path: tuple[CertInfo, ...]) -> tuple[CertInfo, ...] | None:
        if not work.spend() or depth >= MAX_PATH_LENGTH:
            return None
        node = pool[idx]
        if node.der in store.ders:
            return path if node.valid_at(now) else None
        if depth >= 1 and not intermediate_ok(node, depth - 1, now):
            return None
        for root in store.by_subject.get(node.cert.issuer, ()):
            if root.valid_at(now) and work.signed(node, root.key):
                return (*path, root)
        used = {c.der for c in path}
        for j in by_subject.get(node.cert.issuer, ()):
            cand = pool[j]
            if work.budget < 0:
                return None
            if cand.der in used or not work.signed(node, cand.key):
                continue
            found = walk(j, depth + 1, (*path, cand))
            if found is not None:
                return found
        return None

    return walk(0, 0, (leaf,))
