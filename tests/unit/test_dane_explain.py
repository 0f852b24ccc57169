"""The sentences of ``danescan check``: evidence + verdict in, one plain sentence out (pure)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

import pytest

from tests.unit.test_dane_pki import NOW, Pki, issue, make_pki
from workers.dane import TlsaEvidence, TlsaRecord, TlsEvidence, Verdict, dane_verdict
from workers.dane.explain import HostEvidence, explain
from workers.vocab import (
    DaneReason,
    DnssecReason,
    DnssecStatus,
    QueryStatus,
    RfcOutcome,
    SmtpStatus,
)

HOST = "mx.example.net"


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki(HOST)


def _say(records: Sequence[TlsaRecord], chain: Sequence[bytes], *,
         dnssec: DnssecStatus = DnssecStatus.SECURE, reason: DnssecReason = DnssecReason.NONE,
         smtp: SmtpStatus = SmtpStatus.OK, history: Sequence[bytes] = (), **extra: object
         ) -> tuple[Verdict, str | None]:
    tlsa = TlsaEvidence.of(records, dnssec, reason)
    v = dane_verdict(HOST, tlsa, TlsEvidence(smtp, tuple(chain)), NOW, history=history)
    ev = HostEvidence(HOST, tlsa, chain=tuple(chain), smtp=smtp, **extra)  # type: ignore[arg-type]
    return v, explain(ev, v)


def _hex(b: bytes) -> str:
    return b.hex()


def test_valid_says_nothing(pki: Pki) -> None:
    v, s = _say([pki.leaf.tlsa(3, 1, 1)], pki.chain)
    assert v.valid and s is None


def test_no_match_proposes_the_record_of_the_presented_key(pki: Pki) -> None:
    other = issue(HOST)
    v, s = _say([other.tlsa(3, 1, 1)], pki.chain)
    assert v.reason is DaneReason.NO_MATCH and s is not None
    assert f"publish `3 1 1 {_hex(pki.leaf.tlsa(3, 1, 1).data)}`" in s


def test_proposal_keeps_the_operators_selector_and_matching_type(pki: Pki) -> None:
    other = issue(HOST)
    _, s = _say([other.tlsa(3, 0, 2)], pki.chain)
    assert s is not None and f"`3 0 2 {_hex(pki.leaf.tlsa(3, 0, 2).data)}`" in s


def test_a_ta_record_is_replaced_by_one_for_the_issuer(pki: Pki) -> None:
    other = make_pki(HOST)
    v, s = _say([other.inter.tlsa(2, 1, 1)], pki.chain)
    assert v.reason is DaneReason.NO_MATCH and s is not None
    assert f"`2 1 1 {_hex(pki.inter.tlsa(2, 1, 1).data)}`" in s


def test_matches_old_certificate_names_the_new_key_and_the_ttl(pki: Pki) -> None:
    old = issue(HOST, pki.inter)
    v, s = _say([old.tlsa(3, 1, 1)], pki.chain, history=[old.der], tlsa_ttl=3600)
    assert v.reason is DaneReason.MATCHES_OLD_CERTIFICATE and s is not None
    assert "matches the certificate this server presented before" in s
    assert f"`3 1 1 {_hex(pki.leaf.tlsa(3, 1, 1).data)}`" in s
    assert "2 x TTL = 7200 s" in s


def test_wrong_usage_offers_the_ta_record_and_the_ee_record(pki: Pki) -> None:
    v, s = _say([pki.inter.tlsa(3, 1, 1)], pki.chain)
    assert v.reason is DaneReason.WRONG_USAGE and s is not None
    assert f"`2 1 1 {_hex(pki.inter.tlsa(3, 1, 1).data)}`" in s
    assert f"`3 1 1 {_hex(pki.leaf.tlsa(3, 1, 1).data)}`" in s


def test_ta_usage_on_the_leaf_offers_usage_3(pki: Pki) -> None:
    v, s = _say([pki.leaf.tlsa(2, 1, 1)], pki.chain)
    assert v.reason is DaneReason.WRONG_USAGE and s is not None
    assert f"`3 1 1 {_hex(pki.leaf.tlsa(2, 1, 1).data)}`" in s


def test_wrong_selector_keeps_the_data_under_the_right_selector(pki: Pki) -> None:
    spki = pki.leaf.tlsa(3, 1, 1).data
    v, s = _say([TlsaRecord(3, 0, 1, spki)], pki.chain)
    assert v.reason is DaneReason.WRONG_SELECTOR and s is not None
    assert "wrong selector" in s and f"`3 1 1 {spki.hex()}`" in s


def test_wrong_matching_type(pki: Pki) -> None:
    spki = pki.leaf.tlsa(3, 1, 1).data
    v, s = _say([TlsaRecord(3, 1, 2, spki)], pki.chain)
    assert v.reason is DaneReason.WRONG_MATCHING_TYPE and s is not None
    assert "wrong matching type" in s and f"`3 1 1 {spki.hex()}`" in s


def test_empty_hash(pki: Pki) -> None:
    v, s = _say([TlsaRecord(3, 1, 1, hashlib.sha256(b"").digest())], pki.chain)
    assert v.reason is DaneReason.EMPTY_HASH and s is not None
    assert "digest of empty input" in s and pki.leaf.tlsa(3, 1, 1).data.hex() in s


def test_undefined_usage(pki: Pki) -> None:
    v, s = _say([TlsaRecord(4, 1, 1, pki.leaf.tlsa(3, 1, 1).data)], pki.chain)
    assert v.reason is DaneReason.UNDEFINED_FIELD and s is not None
    assert "undefined usage" in s and "`3 1 1 " in s


def test_pkix_only_records(pki: Pki) -> None:
    v, s = _say([pki.leaf.tlsa(1, 1, 1)], pki.chain)
    assert v.rfc is RfcOutcome.ENCRYPT_ONLY and s is not None
    assert "usages 0 and 1 are not for SMTP" in s


def test_pkix_ta_becomes_dane_ta_for_the_issuer(pki: Pki) -> None:
    _, s = _say([pki.inter.tlsa(0, 1, 1)], pki.chain)
    assert s is not None and f"publish `2 1 1 {_hex(pki.inter.tlsa(2, 1, 1).data)}`" in s


def test_name_mismatch_lists_the_names_presented() -> None:
    other = make_pki(HOST, sans=["elsewhere.example.org"])
    v, s = _say([other.inter.tlsa(2, 1, 1)], other.chain)
    assert v.reason is DaneReason.NAME_MISMATCH and s is not None
    assert "elsewhere.example.org" in s and f"includes {HOST}" in s


def test_signature_expired_gives_the_date_and_says_resign(pki: Pki) -> None:
    when = dt.datetime(2024, 5, 30, 8, 0, tzinfo=dt.UTC)
    v, s = _say([pki.leaf.tlsa(3, 1, 1)], pki.chain, dnssec=DnssecStatus.BOGUS,
                reason=DnssecReason.SIGNATURE_EXPIRED, signature_expired=when,
                zone="example.net")
    assert v.reason is DaneReason.DNSSEC_BOGUS and s is not None
    assert "the signature expired on 2024-05-30 08:00 UTC" in s
    assert "re-sign the zone example.net" in s


def test_missing_ds(pki: Pki) -> None:
    v, s = _say([pki.leaf.tlsa(3, 1, 1)], pki.chain, dnssec=DnssecStatus.INSECURE,
                reason=DnssecReason.MISSING_DS, zone="example.net")
    assert v.reason is DaneReason.MISSING_DS and s is not None
    assert "has no DS at its parent: DNSSEC is not in effect, DANE is ignored by senders" in s
    assert "would not match" not in s


def test_insecure_and_wrong_records_says_both(pki: Pki) -> None:
    other = issue(HOST)
    _, s = _say([other.tlsa(3, 1, 1)], pki.chain, dnssec=DnssecStatus.INSECURE,
                reason=DnssecReason.UNSIGNED, zone="example.net")
    assert s is not None and "unsigned zone example.net" in s
    assert f"would not match either: publish `3 1 1 {_hex(pki.leaf.tlsa(3, 1, 1).data)}`" in s


def test_no_starttls(pki: Pki) -> None:
    v, s = _say([pki.leaf.tlsa(3, 1, 1)], (), smtp=SmtpStatus.NO_STARTTLS, ip="192.0.2.1")
    assert v.reason is DaneReason.NO_STARTTLS and s is not None
    assert "does not offer STARTTLS: senders with DANE will defer mail" in s


def test_no_tlsa_is_a_note_about_deploying(pki: Pki) -> None:
    v, s = _say([], pki.chain)
    assert v.reason is DaneReason.NO_TLSA and s is not None
    assert s.startswith("DANE not deployed") and pki.leaf.tlsa(3, 1, 1).data.hex() in s


def test_lookup_failure_is_not_no_tlsa(pki: Pki) -> None:
    tlsa = TlsaEvidence(QueryStatus.SERVFAIL, DnssecStatus.INDETERMINATE)
    v = dane_verdict(HOST, tlsa, TlsEvidence(SmtpStatus.OK, pki.chain), NOW)
    s = explain(HostEvidence(HOST, tlsa), v)
    assert s is not None and "lookup" in s and "SERVFAIL" in s and "not deployed" not in s


def test_digest_agility_defer_is_explained(pki: Pki) -> None:
    v, s = _say([pki.leaf.tlsa(3, 1, 1), TlsaRecord(3, 1, 2, bytes(64))], pki.chain)
    assert v.valid and v.rfc is RfcOutcome.DEFER and s is not None and "SHA-512" in s


@pytest.mark.parametrize("reason", [r for r in DaneReason if r is not DaneReason.NONE])
def test_every_failure_reason_gets_a_sentence_even_on_thin_evidence(reason: DaneReason) -> None:
    """A verdict with any reason and evidence that holds nothing to cite (a chain of junk bytes,
    a record of junk) still yields one sentence, without raising."""
    tlsa = TlsaEvidence.of([TlsaRecord(3, 1, 1, b"\x01" * 32)])
    v = Verdict(valid=False, reason=reason, rfc=RfcOutcome.DEFER, paper_valid=False,
                paper_reason=reason)
    for chain in ((), (b"\x30\x03junk",)):
        s = explain(HostEvidence(HOST, tlsa, chain=chain), v)
        assert s and "\n" not in s


def test_a_digest_of_the_wrong_length_is_named_not_pkix(pki: Pki) -> None:
    """A 3 1 1 record with 2 bytes of data is unusable for its length (RFC 7671 / OpenSSL's
    'malformed'), not for its usage: the sentence must not blame usages 0 and 1."""
    short = TlsaRecord(3, 1, 1, b"\x00\x11")
    v, s = _say([short], pki.chain)
    assert not v.valid and s is not None
    assert "usages 0 and 1" not in s
    assert "3 1 1 0011" in s and "2 bytes" in s and "32" in s
    assert f"`3 1 1 {_hex(pki.leaf.tlsa(3, 1, 1).data)}`" in s
    v, s = _say([TlsaRecord(3, 1, 0, b"not a key")], pki.chain)
    assert not v.valid and s is not None and "usages 0 and 1" not in s
    assert "not a DER public key" in s
