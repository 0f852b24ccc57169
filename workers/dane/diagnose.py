"""Why no TLSA record authenticated the chain (paper Figure 4).

Every record of the RRset (usable or not) is examined; each may contribute reasons. The primary
reason is the first present in ``REASON_ORDER``:

1. ``empty-hash``: the data is SHA-256/SHA-512 of the empty string (a publishing tool hashed
   nothing);
2. ``wrong-usage``: the data designates a certificate at a depth the usage excludes (a 3 x x
   record carrying the issuer's digest, a 2 x x record carrying the leaf's), or, when usages 0/1
   are unusable (RFC view), a PKIX record that designates any certificate of the chain;
3. ``wrong-selector``: the data matches a chain certificate under the other selector;
4. ``wrong-matching-type``: the data matches a chain certificate under another matching type
   (e.g. a SHA-512 digest under matching type 1: such a record is also malformed);
5. ``matches-old-certificate``: the data matches a certificate the host presented earlier, and
   nothing current;
6. ``name-mismatch``: a TA record anchored the chain but the leaf names fail;
7. ``ta-expired``: a DANE-TA record anchored the chain at a self-issued CA certificate outside
   its validity period; OpenSSL and Postfix refuse such a chain (RFC view only, see chain.py);
8. ``chain-invalid``: a TA/PKIX record designates a chain element, but no valid path links it to
   the leaf (bad signature, expired or non-CA intermediate, expired leaf, PKIX root missing);
9. ``undefined-field``: a record has an undefined usage, selector or matching type;
10. ``no-match``: none of the above.

The operator-error reasons (1-5) come first because they say what to republish; 6-8 are server
side. The order is a choice; the full set is kept in ``Verdict.diagnoses``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from workers.dane.certs import CertDigests, CertInfo
from workers.dane.matching import MatchStatus, RecordResult
from workers.dane.tlsa import MatchingType, Selector, TlsaRecord, Usage
from workers.vocab import DaneReason

REASON_ORDER: tuple[DaneReason, ...] = (
    DaneReason.EMPTY_HASH,
    DaneReason.WRONG_USAGE,
    DaneReason.WRONG_SELECTOR,
    DaneReason.WRONG_MATCHING_TYPE,
    DaneReason.MATCHES_OLD_CERTIFICATE,
    DaneReason.NAME_MISMATCH,
    DaneReason.TA_EXPIRED,
    DaneReason.CHAIN_INVALID,
    DaneReason.UNDEFINED_FIELD,
    DaneReason.NO_MATCH,
)

_SELECTORS = (Selector.CERT, Selector.SPKI)
_MTYPES = (MatchingType.FULL, MatchingType.SHA256, MatchingType.SHA512)


def _any_has(certs: Sequence[CertDigests], selector: int, mtype: int, data: bytes) -> bool:
    return any(c.association(selector, mtype) == data for c in certs)


def _record_reasons(
    record: TlsaRecord,
    chain: Sequence[CertDigests],
    allowed_usages: frozenset[int],
    history: Callable[[], Sequence[CertDigests]],
) -> set[DaneReason]:
    reasons: set[DaneReason] = set()
    if record.form_defect.undefined:
        reasons.add(DaneReason.UNDEFINED_FIELD)
        return reasons
    if record.is_empty_hash:
        reasons.add(DaneReason.EMPTY_HASH)
        return reasons
    sel, mt, data = record.selector, record.mtype, record.data
    leaf, above = chain[:1], chain[1:]
    if record.usage not in allowed_usages:
        if _any_has(chain, sel, mt, data):
            reasons.add(DaneReason.WRONG_USAGE)
    elif record.usage in (Usage.DANE_EE, Usage.PKIX_EE):
        if _any_has(above, sel, mt, data):
            reasons.add(DaneReason.WRONG_USAGE)
    elif _any_has(leaf, sel, mt, data):
        reasons.add(DaneReason.WRONG_USAGE)
    for s in _SELECTORS:
        for m in _MTYPES:
            if (s, m) == (sel, mt) or not _any_has(chain, s, m, data):
                continue
            if s != sel:
                reasons.add(DaneReason.WRONG_SELECTOR)
            if m != mt:
                reasons.add(DaneReason.WRONG_MATCHING_TYPE)
    if not reasons and record.well_formed and _any_has(history(), sel, mt, data):
        reasons.add(DaneReason.MATCHES_OLD_CERTIFICATE)
    return reasons


def diagnose(
    records: Sequence[TlsaRecord],
    results: Sequence[RecordResult],
    chain: Sequence[CertDigests],
    allowed_usages: frozenset[int],
    history: Callable[[], Sequence[CertInfo]],
) -> tuple[DaneReason, ...]:
    """All reasons found, in ``REASON_ORDER`` (the first is the primary one); never empty.

    ``results``: outcomes of the records evaluated in this view; ``history`` is called at most
    once, lazily, so old certificates are parsed only when a mismatch needs them.
    """
    found: set[DaneReason] = set()
    for res in results:
        if res.status is MatchStatus.NAME_MISMATCH:
            found.add(DaneReason.NAME_MISMATCH)
        elif res.status is MatchStatus.CHAIN_INVALID:
            found.add(DaneReason.CHAIN_INVALID)
        elif res.status is MatchStatus.TA_EXPIRED:
            found.add(DaneReason.TA_EXPIRED)
    cache: list[Sequence[CertInfo]] = []

    def old() -> Sequence[CertInfo]:
        if not cache:
            current = {c.der for c in chain}
            cache.append([c for c in history() if c.der not in current])
        return cache[0]

    if chain:
        for record in records:
            found |= _record_reasons(record, chain, allowed_usages, old)
    else:
        found |= {DaneReason.UNDEFINED_FIELD for r in records if r.form_defect.undefined}
    ordered = tuple(r for r in REASON_ORDER if r in found)
    return ordered or (DaneReason.NO_MATCH,)


def primary_result(results: Sequence[RecordResult], reason: DaneReason) -> RecordResult | None:
    """The record outcome behind a name-mismatch / chain-invalid reason (for its depth)."""
    wanted = {
        DaneReason.NAME_MISMATCH: MatchStatus.NAME_MISMATCH,
        DaneReason.CHAIN_INVALID: MatchStatus.CHAIN_INVALID,
        DaneReason.TA_EXPIRED: MatchStatus.TA_EXPIRED,
    }.get(reason)
    if wanted is None:
        return None
    hits = [r for r in results if r.status is wanted]
    return min(hits, key=lambda r: r.depth) if hits else None
