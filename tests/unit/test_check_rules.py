"""``danescan check``'s exit rule on plain verdicts (workers/scan/check.py): which hosts fail
DANE, and what counts as DANE published."""

from __future__ import annotations

from workers.dane import TlsaEvidence, TlsaRecord, Verdict
from workers.scan.check import dane_published, host_fails
from workers.vocab import DaneReason, DnssecStatus, QueryStatus, RfcOutcome


def _v(valid: bool, reason: DaneReason, rfc: RfcOutcome) -> Verdict:
    return Verdict(valid=valid, reason=reason, rfc=rfc, paper_valid=valid, paper_reason=reason)


OK = _v(True, DaneReason.NONE, RfcOutcome.VERIFIED)
NO_MATCH = _v(False, DaneReason.NO_MATCH, RfcOutcome.DEFER)
NO_ADDRESS = _v(False, DaneReason.NO_ADDRESS, RfcOutcome.NO_DANE)
RECORD = TlsaRecord(3, 1, 1, bytes(32))


def test_published() -> None:
    assert dane_published(TlsaEvidence.of([RECORD])) is True
    assert dane_published(TlsaEvidence.of([RECORD], DnssecStatus.INSECURE)) is True
    assert dane_published(TlsaEvidence(QueryStatus.NXDOMAIN, DnssecStatus.SECURE)) is False
    assert dane_published(TlsaEvidence(QueryStatus.NOERROR, DnssecStatus.INSECURE)) is False
    assert dane_published(TlsaEvidence(QueryStatus.SERVFAIL, DnssecStatus.INDETERMINATE)) is None
    assert dane_published(TlsaEvidence(QueryStatus.NXDOMAIN, DnssecStatus.BOGUS)) is None


def test_every_address_must_validate() -> None:
    assert not host_fails(True, OK, [OK, OK])
    assert host_fails(True, NO_MATCH, [OK, NO_MATCH])


def test_valid_but_a_client_would_defer_fails() -> None:
    agility = _v(True, DaneReason.NONE, RfcOutcome.DEFER)
    assert host_fails(True, agility, [agility])


def test_no_tlsa_never_fails_dane() -> None:
    assert not host_fails(False, NO_ADDRESS, [])
    no_tlsa = _v(False, DaneReason.NO_TLSA, RfcOutcome.NO_DANE)
    assert not host_fails(False, no_tlsa, [no_tlsa])


def test_without_a_probe_the_host_verdict_decides() -> None:
    assert host_fails(True, NO_ADDRESS, [])
    failed_lookup = _v(False, DaneReason.TLSA_LOOKUP_FAILED, RfcOutcome.DEFER)
    assert host_fails(None, failed_lookup, [])


def test_excluded_is_not_judged() -> None:
    excluded = _v(False, DaneReason.EXCLUDED, RfcOutcome.UNKNOWN)
    assert not host_fails(None, excluded, [])
    assert not host_fails(True, OK, [OK, excluded])  # an address on the list: the others decide
    assert host_fails(True, NO_MATCH, [NO_MATCH, excluded])
