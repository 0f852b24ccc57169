"""Match TLSA records against a presented chain: one outcome per record.

* DANE-EE(3): the record designates the leaf. Dates and names are ignored (RFC 7672 3.1.1).
* DANE-TA(2): the record designates a certificate above the leaf, or gives the anchor in full;
  the chain must verify from that anchor down to the leaf (chain.py) and the leaf must carry one
  of the reference names (RFC 7672 3.2.2-3.2.3).
* PKIX-EE(1) / PKIX-TA(0) (paper view only): a PKIX path to the trust store must exist, the
  record must designate its leaf (1) or a certificate on it above the leaf, root included (0),
  and the leaf must carry a reference name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from workers.dane.certs import CertDigests, CertInfo, cert_info, parse_cert
from workers.dane.chain import Anchor, PathWork, TrustStore, dane_ta_path, pkix_path
from workers.dane.loading import load_der
from workers.dane.names import leaf_matches
from workers.dane.tlsa import MatchingType, Selector, TlsaRecord, Usage

SIGNING_KEY_TYPES = (
    rsa.RSAPublicKey,
    ec.EllipticCurvePublicKey,
    ed25519.Ed25519PublicKey,
    ed448.Ed448PublicKey,
    dsa.DSAPublicKey,
)


class MatchStatus(StrEnum):
    MATCHED = "matched"  # authenticated
    NAME_MISMATCH = "name-mismatch"  # the record anchored the chain, but the leaf names fail
    CHAIN_INVALID = "chain-invalid"  # the record designates a chain element, no valid path to it
    TA_EXPIRED = "ta-expired"  # anchored at a self-issued CA certificate out of its dates (OpenSSL)
    NO_MATCH = "no-match"  # the record designates nothing in the chain


@dataclass(frozen=True)
class RecordResult:
    record: TlsaRecord
    status: MatchStatus
    depth: int  # chain depth the record identified (OpenSSL's convention); -1 for NO_MATCH


def full_anchor(record: TlsaRecord) -> Anchor | None:
    """The trust anchor a DANE-TA/PKIX-TA Full(0) record carries, or None."""
    if record.mtype != MatchingType.FULL:
        return None
    try:
        if record.selector == Selector.CERT:
            cert = load_der(record.data).cert  # quietly: see workers.dane.loading
            if cert is None:
                return None
            return Anchor(key=cert.public_key(), subject=cert.subject,
                          cert=cert_info(cert, record.data))
        if record.selector == Selector.SPKI:
            key = serialization.load_der_public_key(record.data)
            if not isinstance(key, SIGNING_KEY_TYPES):
                return None
            return Anchor(key=key, subject=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None
    return None


def _full_cert(record: TlsaRecord) -> CertInfo | None:
    if record.mtype != MatchingType.FULL or record.selector != Selector.CERT:
        return None
    return parse_cert(record.data)


class Matcher:
    """Evaluates records against one parsed chain, sharing work (paths, names, signatures)."""

    def __init__(
        self,
        chain: tuple[CertInfo, ...],
        references: Sequence[str],
        work: PathWork,
        store: TrustStore | None,
        records: Sequence[TlsaRecord],
    ) -> None:
        self.chain = chain
        self.references = tuple(references)
        self.work = work
        self.store = store
        self._records = tuple(records)
        self._names: bool | None = None
        self._pkix_done = False
        self._pkix: tuple[CertInfo, ...] | None = None

    def names_ok(self) -> bool:
        if self._names is None:
            self._names = leaf_matches(self.chain[0].cert, self.references)
        return self._names

    def pkix(self) -> tuple[CertInfo, ...] | None:
        if not self._pkix_done:
            self._pkix_done = True
            if self.store is not None:
                extra = tuple(
                    c
                    for r in self._records
                    if r.usage == Usage.PKIX_TA and r.well_formed
                    for c in (_full_cert(r),)
                    if c is not None
                )
                self._pkix = pkix_path(self.chain, extra, self.store, self.work)
        return self._pkix

    def evaluate(self, record: TlsaRecord, ta_dates: bool = True) -> RecordResult:
        """``ta_dates``: check a DANE-TA anchor's dates as OpenSSL does (see chain.py)."""
        if record.usage == Usage.DANE_EE:
            return self._dane_ee(record)
        if record.usage == Usage.DANE_TA:
            return self._dane_ta(record, ta_dates)
        return self._pkix_record(record)

    def _result(self, record: TlsaRecord, status: MatchStatus, depth: int) -> RecordResult:
        if status is MatchStatus.MATCHED and not self.names_ok():
            status = MatchStatus.NAME_MISMATCH
        return RecordResult(record, status, depth)

    def _dane_ee(self, record: TlsaRecord) -> RecordResult:
        if self.chain[0].matches(record):
            return RecordResult(record, MatchStatus.MATCHED, 0)
        return RecordResult(record, MatchStatus.NO_MATCH, -1)

    def _dane_ta(self, record: TlsaRecord, ta_dates: bool) -> RecordResult:
        chain = self.chain
        hits = [i for i in range(1, len(chain)) if chain[i].matches(record)]
        anchor = full_anchor(record)
        path = dane_ta_path(chain, hits, anchor, self.work)
        if path is not None:
            if not path.leaf_ok:
                return RecordResult(record, MatchStatus.CHAIN_INVALID, path.depth)
            if ta_dates and not path.ta_dates_ok:
                return RecordResult(record, MatchStatus.TA_EXPIRED, path.depth)
            return self._result(record, MatchStatus.MATCHED, path.depth)
        if hits:
            return RecordResult(record, MatchStatus.CHAIN_INVALID, hits[0])
        if anchor is not None:
            for i, c in enumerate(chain):
                if self.work.signed(c, anchor.key):
                    depth = i if anchor.bare_key else i + 1
                    return RecordResult(record, MatchStatus.CHAIN_INVALID, depth)
        return RecordResult(record, MatchStatus.NO_MATCH, -1)

    def _pkix_record(self, record: TlsaRecord) -> RecordResult:
        path = self.pkix()
        if record.usage == Usage.PKIX_EE:
            if not self.chain[0].matches(record):
                return RecordResult(record, MatchStatus.NO_MATCH, -1)
            if path is None:
                return RecordResult(record, MatchStatus.CHAIN_INVALID, 0)
            return self._result(record, MatchStatus.MATCHED, 0)
        if path is not None:
            for depth in range(1, len(path)):
                if path[depth].matches(record):
                    return self._result(record, MatchStatus.MATCHED, depth)
        for i in range(1, len(self.chain)):
            if self.chain[i].matches(record):
                return RecordResult(record, MatchStatus.CHAIN_INVALID, i)
        return RecordResult(record, MatchStatus.NO_MATCH, -1)


def raw_leaf_result(record: TlsaRecord, chain: Sequence[CertDigests]) -> RecordResult:
    """One record against a chain whose leaf ``cryptography`` cannot load: ``chain[0]`` is the
    leaf known by its bytes only (its DER, and its SubjectPublicKeyInfo cut out of the DER),
    followed by the certificates that parsed.

    DANE-EE needs nothing else (RFC 7672 3.1.1: no names, no dates, no path), so ``3 0 x`` and
    ``3 1 x`` match as usual. Every other usage needs the leaf parsed (its issuer, signature and
    names): a record that designates a presented certificate is CHAIN_INVALID at its depth (no
    path can be checked), otherwise NO_MATCH.
    """
    if record.usage in (Usage.DANE_EE, Usage.PKIX_EE):
        if not chain[0].matches(record):
            return RecordResult(record, MatchStatus.NO_MATCH, -1)
        status = MatchStatus.MATCHED if record.usage == Usage.DANE_EE else MatchStatus.CHAIN_INVALID
        return RecordResult(record, status, 0)
    for depth in range(1, len(chain)):
        if chain[depth].matches(record):
            return RecordResult(record, MatchStatus.CHAIN_INVALID, depth)
    return RecordResult(record, MatchStatus.NO_MATCH, -1)


def best_match(results: Sequence[RecordResult]) -> RecordResult | None:
    """The match to report: end-entity matches first, then the lowest depth, then RRset order."""
    matched = [r for r in results if r.status is MatchStatus.MATCHED]
    if not matched:
        return None
    order = {id(r): i for i, r in enumerate(results)}
    return min(
        matched,
        key=lambda r: (r.record.usage not in (Usage.DANE_EE, Usage.PKIX_EE), r.depth, order[id(r)]),
    )
