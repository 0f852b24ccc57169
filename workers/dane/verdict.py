"""The DANE verdict for one MX host: a pure function of the evidence and the scan time.

Decision order (methodology.md section 3, RFC 6698/7671/7672):

1. TLSA lookup not answered (SERVFAIL, TIMEOUT, ..., or DNSSEC indeterminate):
   ``tlsa-lookup-failed``, rfc ``defer`` (Postfix: "TLSA lookup error").
2. Answered with no records (NODATA/NXDOMAIN): ``no-tlsa``, rfc ``no-dane``; ``valid`` is False
   but DANE is simply not deployed. If the denial itself is bogus: ``dnssec-bogus``, ``defer``.
   **Telling "no DANE" from a failure:** ``reason == NO_TLSA`` (or ``rfc == NO_DANE``) is "not
   DANE"; ``TLSA_LOOKUP_FAILED`` is a measurement failure; ``Verdict.dane_deployed`` and
   ``Verdict.dane_in_effect`` wrap these tests.
3. Bogus RRset: ``dnssec-bogus``, ``defer``.
4. Insecure RRset: DANE is not in effect (rfc ``no-dane``); measurement reason ``missing-ds``
   when the DNSSEC reason is missing-ds, else ``dnssec-insecure``. ``would_validate`` tells
   whether the records would have authenticated the chain had the RRset been secure (the paper's
   "missing DS, everything else right").
5. Secure RRset without a usable record (RFC 7672: only usages 2/3, defined fields, well-formed
   data): ``undefined-field`` if some record has undefined fields, else ``no-usable-tlsa``; rfc
   ``encrypt-only`` (Postfix: "all TLSA records unusable, fallback to unauthenticated TLS"), or
   ``defer`` if the probe found no TLS to encrypt with.
6. Probe failed: ``connect-failed`` / ``no-starttls`` / ``handshake-failed`` (a completed
   handshake whose leaf is not even shaped like a certificate counts as a failed handshake), rfc
   ``defer``; ``probe-error`` / ``unknown`` when the probe itself broke. A certificate that only
   ``cryptography`` cannot load (probe status ``cert-unparsable``: OpenSSL completed the handshake
   with it) is no probe failure: a leaf whose key it cannot load still parses (its SPKI is cut out
   of the DER), and a leaf it cannot load at all is matched by its bytes, which is all DANE-EE
   needs (RFC 7672 3.1.1); DANE-TA and PKIX records then cannot be checked against it
   (matching.raw_leaf_result: ``chain-invalid`` when they designate a presented certificate).
7. Otherwise valid if any usable record authenticates the chain (matching.py); else the primary
   reason from diagnose.py, rfc ``defer``. A DANE-TA anchor's own dates: the measurement and RFC
   views follow what deployed clients do (OpenSSL, hence Postfix, refuse a chain whose DANE-TA
   anchor is a self-issued CA certificate outside its validity period: ``ta-expired``, ``defer``);
   the paper view keeps the RFC 5280 / RFC 7671 section 5.2 reading, in which a trust anchor is a
   name and a key and its certificate's dates are not part of path validation. That reading is
   right as a statement of what the record designates, and wrong as a prediction of delivery,
   which is what the RFC view is for. The rfc outcome additionally applies OpenSSL/Postfix
   digest agility (tlsa.agility_filter): a matching SHA-256 record is ignored when a SHA-512
   record of the same usage and selector exists, so ``valid`` can be True with rfc ``defer``.

The paper view (``paper_*``) repeats 5-7 with usages 0/1 allowed and checked against
``trust_store`` (left out when no store is given).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from workers.dane.certs import CertDigests, CertInfo, PresentedChain, parse_cert, parse_chain
from workers.dane.chain import PathWork, TrustStore, work_for
from workers.dane.diagnose import diagnose, primary_result
from workers.dane.evidence import TlsaEvidence, TlsEvidence
from workers.dane.matching import Matcher, MatchStatus, RecordResult, best_match, raw_leaf_result
from workers.dane.tlsa import TlsaRecord, Usage, agility_filter
from workers.vocab import DaneReason, DnssecReason, DnssecStatus, RfcOutcome, SmtpStatus

PROBE_REASONS: dict[SmtpStatus, DaneReason] = {
    SmtpStatus.CONNECT_REFUSED: DaneReason.CONNECT_FAILED,
    SmtpStatus.CONNECT_TIMEOUT: DaneReason.CONNECT_FAILED,
    SmtpStatus.CONNECT_ERROR: DaneReason.CONNECT_FAILED,
    SmtpStatus.BANNER_TIMEOUT: DaneReason.CONNECT_FAILED,
    SmtpStatus.BANNER_REJECTED: DaneReason.CONNECT_FAILED,
    SmtpStatus.BANNER_GARBAGE: DaneReason.CONNECT_FAILED,
    SmtpStatus.EHLO_FAILED: DaneReason.CONNECT_FAILED,
    SmtpStatus.NO_STARTTLS: DaneReason.NO_STARTTLS,
    SmtpStatus.STARTTLS_REJECTED: DaneReason.NO_STARTTLS,
    SmtpStatus.HANDSHAKE_FAILED: DaneReason.HANDSHAKE_FAILED,
    SmtpStatus.HANDSHAKE_TIMEOUT: DaneReason.HANDSHAKE_FAILED,
    SmtpStatus.CERT_UNPARSABLE: DaneReason.HANDSHAKE_FAILED,
    SmtpStatus.PROBE_ERROR: DaneReason.PROBE_ERROR,
    SmtpStatus.PROBE_TIMEOUT: DaneReason.CONNECT_FAILED,  # a tarpit: no usable session
    SmtpStatus.EXCLUDED: DaneReason.EXCLUDED,  # not connected to: nothing to judge
}
NOT_JUDGED = frozenset({DaneReason.PROBE_ERROR, DaneReason.EXCLUDED})  # the RFC outcome is unknown

RFC_USAGES = frozenset({Usage.DANE_TA, Usage.DANE_EE})
PAPER_USAGES = frozenset({Usage.PKIX_TA, Usage.PKIX_EE, Usage.DANE_TA, Usage.DANE_EE})


@dataclass(frozen=True)
class Verdict:
    """DANE outcome for one MX host (one probe), in three views.

    * measurement view: ``valid``, ``reason`` (NONE when valid), ``matched``/``depth``;
    * ``rfc``: what an RFC 7672 client (Postfix ``dane``) does;
    * paper view: ``paper_valid``, ``paper_reason``, ``paper_matched``/``paper_depth``.

    ``matched``/``depth``: the record that identified a chain element and that element's depth
    (OpenSSL's convention). Also set when verification failed *after* the match
    (``name-mismatch``, ``chain-invalid``), as OpenSSL reports it; None/-1 otherwise.
    ``diagnoses``: every mismatch reason found, primary first. Digests are raw bytes.
    """

    valid: bool
    reason: DaneReason
    rfc: RfcOutcome
    paper_valid: bool
    paper_reason: DaneReason
    matched: TlsaRecord | None = None
    depth: int = -1
    paper_matched: TlsaRecord | None = None
    paper_depth: int = -1
    diagnoses: tuple[DaneReason, ...] = ()
    would_validate: bool | None = None
    leaf_spki_sha256: bytes | None = None
    leaf_spki_sha512: bytes | None = None
    leaf_cert_sha256: bytes | None = None
    chain_sha256: tuple[bytes, ...] = ()

    @property
    def dane_deployed(self) -> bool | None:
        """True: a TLSA RRset exists; False: none (not a failure); None: not known from the
        verdict (the lookup failed, or a reason that wins over the TLSA side: no address,
        excluded; the TLSA evidence says then)."""
        if self.reason in (DaneReason.TLSA_LOOKUP_FAILED, DaneReason.NO_ADDRESS,
                           DaneReason.EXCLUDED):
            return None
        return self.reason is not DaneReason.NO_TLSA

    @property
    def dane_in_effect(self) -> bool:
        """An RFC 7672 client would apply DANE (authenticate, encrypt-only or defer)."""
        return self.rfc is not RfcOutcome.NO_DANE


@dataclass(frozen=True)
class _View:
    valid: bool
    reason: DaneReason
    matched: TlsaRecord | None = None
    depth: int = -1
    diagnoses: tuple[DaneReason, ...] = ()
    results: tuple[RecordResult, ...] = ()
    unusable: bool = False  # no usable record at all (RFC 7672: mandatory unauthenticated TLS)


def _probe_reason(tls: TlsEvidence, chain: PresentedChain) -> DaneReason | None:
    # cert-unparsable: the handshake completed and only our parser balked at a certificate;
    # with a leaf known at least by its bytes, DANE-EE can still be judged (see module doc)
    completed = tls.status is SmtpStatus.OK or (
        tls.status is SmtpStatus.CERT_UNPARSABLE and chain.leaf_digests is not None
    )
    if not completed:
        return PROBE_REASONS.get(tls.status, DaneReason.PROBE_ERROR)
    if chain.leaf_digests is None:
        return DaneReason.HANDSHAKE_FAILED
    return None


# Diagnoses that name a malformed record, reported instead of "no usable TLSA" when every record
# is unusable because of them (measurement view; the RFC outcome stays encrypt-only).
FIELD_MISTAKES = frozenset({DaneReason.WRONG_MATCHING_TYPE, DaneReason.EMPTY_HASH})


def _no_usable(records: Sequence[TlsaRecord]) -> DaneReason:
    if any(r.form_defect.undefined for r in records):
        return DaneReason.UNDEFINED_FIELD
    return DaneReason.NO_USABLE_TLSA


class _Evaluation:
    """Shared state for the views of one verdict."""

    def __init__(
        self,
        records: tuple[TlsaRecord, ...],
        chain: PresentedChain,
        references: tuple[str, ...],
        now: datetime,
        store: TrustStore | None,
        history: Sequence[bytes],
    ) -> None:
        self.records = records
        self.certs = chain.certs
        self.raw_leaf = chain.raw_leaf
        # what diagnosis compares against: the leaf (parsed or raw) first, then the rest
        self.seen: tuple[CertDigests, ...] = (
            (chain.raw_leaf, *chain.certs) if chain.raw_leaf is not None else chain.certs
        )
        self.store = store
        self._history_der = history
        self._history: list[CertInfo] | None = None
        work = PathWork(now, work_for(len(chain.certs) + len(records)))
        self.matcher = Matcher(chain.certs, references, work, store, records)

    def history(self) -> Sequence[CertInfo]:
        if self._history is None:
            parsed = (parse_cert(d) for d in self._history_der)
            self._history = [c for c in parsed if c is not None]
        return self._history

    def view(
        self, allowed: frozenset[int], probe: DaneReason | None, diagnose_unusable: bool = True,
        ta_dates: bool = True,
    ) -> _View:
        usable = tuple(r for r in self.records if r.well_formed and r.usage in allowed)
        if not usable:
            extra: tuple[DaneReason, ...] = ()
            if probe is None and diagnose_unusable:
                extra = diagnose(self.records, (), self.seen, allowed, self.history)
            unusable = _no_usable(self.records)
            # the paper's Figure 4 counts a digest of the wrong length as the mistake it is
            mistake = next((d for d in extra if d in FIELD_MISTAKES), None)
            reason = mistake if unusable is DaneReason.NO_USABLE_TLSA and mistake else unusable
            found = dict.fromkeys((reason, unusable, *extra))
            return _View(False, reason, diagnoses=tuple(found), unusable=True)
        if probe is not None:
            return _View(False, probe)
        results = tuple(
            raw_leaf_result(r, self.seen) if self.raw_leaf is not None
            else self.matcher.evaluate(r, ta_dates)
            for r in usable
        )
        best = best_match(results)
        if best is not None:
            return _View(True, DaneReason.NONE, best.record, best.depth, (), results)
        reasons = diagnose(self.records, results, self.seen, allowed, self.history)
        failed = primary_result(results, reasons[0])
        return _View(
            False,
            reasons[0],
            failed.record if failed else None,
            failed.depth if failed else -1,
            reasons,
            results,
        )


def _rfc_outcome(view: _View, probe: DaneReason | None) -> RfcOutcome:
    if view.unusable:
        if probe in NOT_JUDGED:
            return RfcOutcome.UNKNOWN
        return RfcOutcome.ENCRYPT_ONLY if probe is None else RfcOutcome.DEFER
    if probe in NOT_JUDGED:
        return RfcOutcome.UNKNOWN
    if not view.valid:
        return RfcOutcome.DEFER
    kept = {id(r) for r in agility_filter(tuple(res.record for res in view.results))}
    if any(res.status is MatchStatus.MATCHED and id(res.record) in kept for res in view.results):
        return RfcOutcome.VERIFIED
    return RfcOutcome.DEFER


def dane_verdict(
    host: str,
    tlsa: TlsaEvidence,
    tls: TlsEvidence,
    now: datetime,
    *,
    reference_names: Sequence[str] = (),
    trust_store: TrustStore | None = None,
    history: Sequence[bytes] = (),
) -> Verdict:
    """The DANE verdict for MX host ``host`` (see the module docstring for the rules).

    ``reference_names``: more names the leaf may carry (the initial name before a secure CNAME
    expansion, RFC 7672 3.2.2). ``trust_store``: PKIX roots for the paper view (see
    workers.dane.roots for certifi's Mozilla bundle). ``history``: DER certificates this host
    presented in earlier snapshots (for ``matches-old-certificate``). ``now`` must be aware.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    chain = parse_chain(tls.chain)
    leaf = chain.leaf_digests
    spki256 = leaf.spki_sha256 if leaf else None
    spki512 = leaf.spki_sha512 if leaf else None
    cert256 = chain.sha256[0] if chain.sha256 else None

    def fixed(reason: DaneReason, rfc: RfcOutcome, would: bool | None = None) -> Verdict:
        return Verdict(
            valid=False,
            reason=reason,
            rfc=rfc,
            paper_valid=False,
            paper_reason=reason,
            would_validate=would,
            leaf_spki_sha256=spki256,
            leaf_spki_sha512=spki512,
            leaf_cert_sha256=cert256,
            chain_sha256=chain.sha256,
        )

    if not tlsa.answered:
        return fixed(DaneReason.TLSA_LOOKUP_FAILED, RfcOutcome.DEFER)
    if tlsa.dnssec is DnssecStatus.BOGUS:
        return fixed(DaneReason.DNSSEC_BOGUS, RfcOutcome.DEFER)
    if not tlsa.records:
        return fixed(DaneReason.NO_TLSA, RfcOutcome.NO_DANE)

    probe = _probe_reason(tls, chain)
    references = (host, *reference_names)
    evaluation = _Evaluation(tlsa.records, chain, references, now, trust_store, history)

    if tlsa.dnssec is not DnssecStatus.SECURE:
        insecure = (
            DaneReason.MISSING_DS
            if tlsa.dnssec_reason is DnssecReason.MISSING_DS
            else DaneReason.DNSSEC_INSECURE
        )
        would = None if probe is not None else evaluation.view(RFC_USAGES, None, False).valid
        return fixed(insecure, RfcOutcome.NO_DANE, would)

    rfc_view = evaluation.view(RFC_USAGES, probe)
    paper_usages = PAPER_USAGES if trust_store is not None else RFC_USAGES
    ta_expired = any(r.status is MatchStatus.TA_EXPIRED for r in rfc_view.results)
    paper_view = (rfc_view if paper_usages is RFC_USAGES and not ta_expired
                  else evaluation.view(paper_usages, probe, ta_dates=False))
    return Verdict(
        valid=rfc_view.valid,
        reason=rfc_view.reason,
        rfc=_rfc_outcome(rfc_view, probe),
        paper_valid=paper_view.valid,
        paper_reason=paper_view.reason,
        matched=rfc_view.matched,
        depth=rfc_view.depth,
        paper_matched=paper_view.matched,
        paper_depth=paper_view.depth,
        diagnoses=rfc_view.diagnoses,
        would_validate=rfc_view.valid if probe is None else None,
        leaf_spki_sha256=spki256,
        leaf_spki_sha512=spki512,
        leaf_cert_sha256=cert256,
        chain_sha256=chain.sha256,
    )
