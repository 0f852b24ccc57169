"""dane_verdict with generated certificates: every reason, both views, the RFC outcome."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.unit.test_dane_pki import NOW, YEAR, Pki, ec_key, issue, make_pki, rsa_key
from workers.dane import TlsaEvidence, TlsaRecord, TlsEvidence, TrustStore, Verdict, dane_verdict
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


@pytest.fixture(scope="module")
def rsa_pki() -> Pki:
    return make_pki(HOST, rsa_keys=True)


def verdict(
    records: Sequence[TlsaRecord],
    chain: Sequence[bytes],
    *,
    dnssec: DnssecStatus = DnssecStatus.SECURE,
    dnssec_reason: DnssecReason = DnssecReason.NONE,
    smtp: SmtpStatus = SmtpStatus.OK,
    host: str = HOST,
    **kwargs: object,
) -> Verdict:
    return dane_verdict(
        host,
        TlsaEvidence.of(records, dnssec, dnssec_reason),
        TlsEvidence(smtp, tuple(chain)),
        NOW,
        **kwargs,  # type: ignore[arg-type]
    )


def junk(n: int = 32) -> bytes:
    return os.urandom(n)


# --- DNS side -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status",
    [s for s in QueryStatus if s not in (QueryStatus.NOERROR, QueryStatus.NXDOMAIN)],
)
def test_failed_lookup_is_not_no_tlsa(pki: Pki, status: QueryStatus) -> None:
    v = dane_verdict(
        HOST,
        TlsaEvidence(status, DnssecStatus.INDETERMINATE, DnssecReason.LOOKUP_FAILED),
        TlsEvidence(SmtpStatus.OK, pki.chain),
        NOW,
    )
    assert (v.reason, v.rfc, v.dane_deployed) == (
        DaneReason.TLSA_LOOKUP_FAILED,
        RfcOutcome.DEFER,
        None,
    )


@pytest.mark.parametrize("status", [QueryStatus.NOERROR, QueryStatus.NXDOMAIN])
@pytest.mark.parametrize("dnssec", [DnssecStatus.SECURE, DnssecStatus.INSECURE])
def test_no_records_is_no_dane(pki: Pki, status: QueryStatus, dnssec: DnssecStatus) -> None:
    v = dane_verdict(HOST, TlsaEvidence(status, dnssec), TlsEvidence(SmtpStatus.OK, pki.chain), NOW)
    assert (v.valid, v.reason, v.rfc) == (False, DaneReason.NO_TLSA, RfcOutcome.NO_DANE)
    assert v.dane_deployed is False and not v.dane_in_effect


def test_bogus_denial_defers(pki: Pki) -> None:
    tlsa = TlsaEvidence(QueryStatus.NXDOMAIN, DnssecStatus.BOGUS, DnssecReason.SIGNATURE_EXPIRED)
    v = dane_verdict(HOST, tlsa, TlsEvidence(SmtpStatus.OK, pki.chain), NOW)
    assert (v.reason, v.rfc) == (DaneReason.DNSSEC_BOGUS, RfcOutcome.DEFER)


def test_bogus_rrset_defers(pki: Pki) -> None:
    v = verdict(
        [pki.leaf.tlsa(3, 1, 1)],
        pki.chain,
        dnssec=DnssecStatus.BOGUS,
        dnssec_reason=DnssecReason.SIGNATURE_INVALID,
    )
    assert (v.valid, v.reason, v.rfc, v.paper_valid) == (
        False,
        DaneReason.DNSSEC_BOGUS,
        RfcOutcome.DEFER,
        False,
    )


def test_missing_ds_with_right_records(pki: Pki) -> None:
    v = verdict(
        [pki.leaf.tlsa(3, 1, 1)],
        pki.chain,
        dnssec=DnssecStatus.INSECURE,
        dnssec_reason=DnssecReason.MISSING_DS,
    )
    assert (v.valid, v.reason, v.rfc, v.would_validate) == (
        False,
        DaneReason.MISSING_DS,
        RfcOutcome.NO_DANE,
        True,
    )


def test_unsigned_with_wrong_records(pki: Pki) -> None:
    v = verdict(
        [TlsaRecord(3, 1, 1, junk())],
        pki.chain,
        dnssec=DnssecStatus.INSECURE,
        dnssec_reason=DnssecReason.UNSIGNED,
    )
    assert (v.reason, v.rfc, v.would_validate) == (
        DaneReason.DNSSEC_INSECURE,
        RfcOutcome.NO_DANE,
        False,
    )


# --- usable records ------------------------------------------------------------------------


def test_only_pkix_records_mean_encrypt_only(pki: Pki) -> None:
    v = verdict([pki.leaf.tlsa(1, 1, 1), pki.root.tlsa(0, 1, 1)], pki.chain)
    assert (v.valid, v.reason, v.rfc) == (
        False,
        DaneReason.NO_USABLE_TLSA,
        RfcOutcome.ENCRYPT_ONLY,
    )
    assert v.dane_in_effect


def test_undefined_fields(pki: Pki) -> None:
    v = verdict([TlsaRecord(4, 1, 1, junk()), TlsaRecord(3, 2, 1, junk())], pki.chain)
    assert (v.reason, v.rfc) == (DaneReason.UNDEFINED_FIELD, RfcOutcome.ENCRYPT_ONLY)


def test_wrong_length_digest_is_unusable(pki: Pki) -> None:
    good = pki.leaf.tlsa(3, 1, 1)
    v = verdict([TlsaRecord(3, 1, 1, good.data[:31])], pki.chain)
    assert (v.reason, v.rfc) == (DaneReason.NO_USABLE_TLSA, RfcOutcome.ENCRYPT_ONLY)


def test_no_usable_and_no_starttls_defers(pki: Pki) -> None:
    v = verdict([pki.leaf.tlsa(1, 1, 1)], (), smtp=SmtpStatus.NO_STARTTLS)
    assert (v.reason, v.rfc) == (DaneReason.NO_USABLE_TLSA, RfcOutcome.DEFER)


# --- probe failures ------------------------------------------------------------------------

EXPECTED_PROBE = {
    SmtpStatus.NO_STARTTLS: DaneReason.NO_STARTTLS,
    SmtpStatus.STARTTLS_REJECTED: DaneReason.NO_STARTTLS,
    SmtpStatus.HANDSHAKE_FAILED: DaneReason.HANDSHAKE_FAILED,
    SmtpStatus.HANDSHAKE_TIMEOUT: DaneReason.HANDSHAKE_FAILED,
    SmtpStatus.CERT_UNPARSABLE: DaneReason.HANDSHAKE_FAILED,
    SmtpStatus.CONNECT_REFUSED: DaneReason.CONNECT_FAILED,
    SmtpStatus.CONNECT_TIMEOUT: DaneReason.CONNECT_FAILED,
    SmtpStatus.CONNECT_ERROR: DaneReason.CONNECT_FAILED,
    SmtpStatus.BANNER_TIMEOUT: DaneReason.CONNECT_FAILED,
    SmtpStatus.BANNER_REJECTED: DaneReason.CONNECT_FAILED,
    SmtpStatus.BANNER_GARBAGE: DaneReason.CONNECT_FAILED,
    SmtpStatus.EHLO_FAILED: DaneReason.CONNECT_FAILED,
    SmtpStatus.PROBE_ERROR: DaneReason.PROBE_ERROR,
    SmtpStatus.PROBE_TIMEOUT: DaneReason.CONNECT_FAILED,
    SmtpStatus.EXCLUDED: DaneReason.EXCLUDED,
}


@pytest.mark.parametrize("status", [s for s in SmtpStatus if s is not SmtpStatus.OK])
def test_probe_failures(pki: Pki, status: SmtpStatus) -> None:
    v = verdict([pki.leaf.tlsa(3, 1, 1)], (), smtp=status)
    assert v.reason is EXPECTED_PROBE[status]
    expected_rfc = (RfcOutcome.UNKNOWN if status in (SmtpStatus.PROBE_ERROR, SmtpStatus.EXCLUDED)
                    else RfcOutcome.DEFER)
    assert (v.valid, v.rfc) == (False, expected_rfc)


def test_ok_probe_without_certificate_is_a_failed_handshake(pki: Pki) -> None:
    v = verdict([pki.leaf.tlsa(3, 1, 1)], ())
    assert (v.reason, v.rfc) == (DaneReason.HANDSHAKE_FAILED, RfcOutcome.DEFER)
    v = verdict([pki.leaf.tlsa(3, 1, 1)], (b"\x30\x03garbage",))
    assert v.reason is DaneReason.HANDSHAKE_FAILED


# --- DANE-EE -------------------------------------------------------------------------------


@pytest.mark.parametrize("selector", [0, 1])
@pytest.mark.parametrize("mtype", [0, 1, 2])
@pytest.mark.parametrize("which", ["ec", "rsa"])
def test_dane_ee_all_forms(pki: Pki, rsa_pki: Pki, selector: int, mtype: int, which: str) -> None:
    p = pki if which == "ec" else rsa_pki
    v = verdict([p.leaf.tlsa(3, selector, mtype)], p.chain)
    assert (v.valid, v.reason, v.rfc, v.depth, v.paper_valid) == (
        True,
        DaneReason.NONE,
        RfcOutcome.VERIFIED,
        0,
        True,
    )
    assert v.matched == p.leaf.tlsa(3, selector, mtype)


def test_expired_self_signed_leaf_under_311_is_valid() -> None:
    leaf = issue("some.other.name", not_before=NOW - 3 * YEAR, not_after=NOW - 2 * YEAR)
    v = verdict([leaf.tlsa(3, 1, 1)], [leaf.der])
    assert (v.valid, v.rfc) == (True, RfcOutcome.VERIFIED)


def test_rsa_self_signed_leaf_under_311() -> None:
    leaf = issue(HOST, key=rsa_key())
    assert verdict([leaf.tlsa(3, 1, 1)], [leaf.der]).valid


def test_any_record_matching_is_enough(pki: Pki) -> None:
    v = verdict([TlsaRecord(3, 1, 1, junk()), pki.leaf.tlsa(3, 1, 1)], pki.chain)
    assert v.valid and v.matched == pki.leaf.tlsa(3, 1, 1)


def test_postfix_digest_agility(pki: Pki) -> None:
    """A good SHA-256 record is ignored by OpenSSL/Postfix next to a bad SHA-512 one."""
    v = verdict([pki.leaf.tlsa(3, 1, 1), TlsaRecord(3, 1, 2, junk(64))], pki.chain)
    assert (v.valid, v.rfc) == (True, RfcOutcome.DEFER)
    other_selector = verdict([pki.leaf.tlsa(3, 1, 1), TlsaRecord(3, 0, 2, junk(64))], pki.chain)
    assert (other_selector.valid, other_selector.rfc) == (True, RfcOutcome.VERIFIED)


# --- DANE-TA -------------------------------------------------------------------------------


def test_dane_ta_on_intermediate_and_root(pki: Pki) -> None:
    v = verdict([pki.inter.tlsa(2, 1, 1)], pki.chain)
    assert (v.valid, v.depth) == (True, 1)
    v = verdict([pki.root.tlsa(2, 0, 2)], pki.full_chain)
    assert (v.valid, v.depth) == (True, 2)


def test_dane_ta_rsa_chain(rsa_pki: Pki) -> None:
    v = verdict([rsa_pki.inter.tlsa(2, 1, 1)], rsa_pki.chain)
    assert (v.valid, v.depth) == (True, 1)


def test_dane_ta_anchor_from_dns(pki: Pki) -> None:
    cert_anchor = verdict([pki.root.tlsa(2, 0, 0)], pki.chain)
    assert (cert_anchor.valid, cert_anchor.depth) == (True, 2)
    key_anchor = verdict([pki.inter.tlsa(2, 1, 0)], [pki.leaf.der])
    assert (key_anchor.valid, key_anchor.depth) == (True, 0)


def test_dane_ta_name_mismatch(pki: Pki) -> None:
    v = verdict([pki.inter.tlsa(2, 1, 1)], pki.chain, host="mx.elsewhere.org")
    assert (v.valid, v.reason, v.rfc, v.depth) == (
        False,
        DaneReason.NAME_MISMATCH,
        RfcOutcome.DEFER,
        1,
    )
    # DANE-EE ignores names
    assert verdict([pki.leaf.tlsa(3, 1, 1)], pki.chain, host="mx.elsewhere.org").valid


def test_dane_ta_initial_name_before_cname(pki: Pki) -> None:
    v = verdict(
        [pki.inter.tlsa(2, 1, 1)],
        pki.chain,
        host="mail.provider.example",
        reference_names=[HOST + "."],
    )
    assert v.valid


@pytest.mark.parametrize(
    ("san", "host", "ok"),
    [
        ("*.example.net", "mx.example.net", True),
        ("*.example.net", "a.mx.example.net", False),
        ("*.example.net", "example.net", False),
        ("mx*.example.net", "mx1.example.net", False),
        ("*.net", "example.net", False),
        ("MX.Example.NET", "mx.example.net.", True),
    ],
)
def test_dane_ta_wildcards(san: str, host: str, ok: bool) -> None:
    root = issue("Wild Root", ca=True)
    leaf = issue("leaf", root, sans=[san])
    v = verdict([root.tlsa(2, 1, 1)], [leaf.der, root.der], host=host)
    assert v.valid is ok
    if not ok:
        assert v.reason is DaneReason.NAME_MISMATCH


def test_dane_ta_common_name_only_without_san() -> None:
    root = issue("CN Root", ca=True)
    leaf = issue(HOST, root, sans=[])
    assert verdict([root.tlsa(2, 1, 1)], [leaf.der, root.der]).valid
    leaf_with_other_san = issue(HOST, root, sans=["other.example.net"])
    v = verdict([root.tlsa(2, 1, 1)], [leaf_with_other_san.der, root.der])
    assert v.reason is DaneReason.NAME_MISMATCH


def test_dane_ta_dates() -> None:
    """Leaf and intermediates must be current. The anchor's own dates, as OpenSSL 3.0 (and so
    Postfix) judge them (measured with s_client -dane_tlsa_rrdata against s_server): a
    self-issued anchor certificate out of its dates fails ("certificate has expired") under any
    selector; a non-self-issued CA certificate at the top and a bare key do not. The paper view
    keeps RFC 5280's reading (an anchor is a name and a key)."""
    old_root = issue("Old Root", ca=True, not_before=NOW - 3 * YEAR, not_after=NOW - YEAR)
    inter = issue("CA", old_root, ca=True)
    leaf = issue(HOST, inter)
    for record in (old_root.tlsa(2, 1, 1), old_root.tlsa(2, 0, 1)):
        v = verdict([record], [leaf.der, inter.der, old_root.der])
        assert (v.valid, v.reason, v.rfc, v.depth) == (
            False, DaneReason.TA_EXPIRED, RfcOutcome.DEFER, 2), record
        assert v.paper_valid and v.paper_reason is DaneReason.NONE
    # the expired root given in full in DNS, not sent: OpenSSL refuses it too
    v = verdict([old_root.tlsa(2, 0, 0)], [leaf.der, inter.der])
    assert (v.valid, v.reason, v.rfc) == (False, DaneReason.TA_EXPIRED, RfcOutcome.DEFER)
    # as a bare key (2 1 0) it has no dates: verified
    v = verdict([old_root.tlsa(2, 1, 0)], [leaf.der, inter.der])
    assert (v.valid, v.rfc) == (True, RfcOutcome.VERIFIED)
    # an expired CA certificate that is not self-issued, at the top of the path: OpenSSL says OK
    current_root = issue("Current Root", ca=True)
    old_inter = issue("Old CA", current_root, ca=True, not_after=NOW - YEAR / 2)
    leaf3 = issue(HOST, old_inter)
    for record in (old_inter.tlsa(2, 0, 1), old_inter.tlsa(2, 1, 1), old_inter.tlsa(2, 0, 0)):
        v = verdict([record], [leaf3.der, old_inter.der])
        assert (v.valid, v.rfc, v.depth) == (True, RfcOutcome.VERIFIED, 1), record
    # another record that verifies wins: any record is enough
    v = verdict([old_root.tlsa(2, 1, 1), leaf.tlsa(3, 1, 1)], [leaf.der, inter.der, old_root.der])
    assert (v.valid, v.rfc) == (True, RfcOutcome.VERIFIED)

    root = issue("Root", ca=True)
    expired_inter = issue("CA", root, ca=True, not_after=NOW - YEAR / 2)
    leaf2 = issue(HOST, expired_inter)
    v = verdict([root.tlsa(2, 1, 1)], [leaf2.der, expired_inter.der, root.der])
    assert (v.valid, v.reason, v.depth) == (False, DaneReason.CHAIN_INVALID, 2)

    expired_leaf = issue(HOST, root, not_after=NOW - YEAR / 2)
    v = verdict([root.tlsa(2, 1, 1)], [expired_leaf.der, root.der])
    assert (v.valid, v.reason) == (False, DaneReason.CHAIN_INVALID)


def test_dane_ta_requires_a_ca_and_server_auth() -> None:
    root = issue("Root", ca=True)
    not_ca = issue("not a CA", root, sans=["x.example"])
    leaf = issue(HOST, not_ca)
    v = verdict([root.tlsa(2, 1, 1)], [leaf.der, not_ca.der, root.der])
    assert v.reason is DaneReason.CHAIN_INVALID
    client_only = issue(HOST, root, eku=[ExtendedKeyUsageOID.CLIENT_AUTH])
    assert verdict([root.tlsa(2, 1, 1)], [client_only.der, root.der]).reason is (
        DaneReason.CHAIN_INVALID
    )


def test_dane_ta_bad_signature_is_chain_invalid(pki: Pki) -> None:
    impostor = issue(HOST, issue("Test Issuing CA", key=ec_key(), ca=True))  # same issuer name
    v = verdict([pki.inter.tlsa(2, 1, 1)], [impostor.der, pki.inter.der])
    assert (v.reason, v.depth, v.rfc) == (DaneReason.CHAIN_INVALID, 1, RfcOutcome.DEFER)


# --- diagnosis -----------------------------------------------------------------------------


def test_empty_hash(pki: Pki) -> None:
    v = verdict([TlsaRecord(3, 1, 1, hashlib.sha256(b"").digest())], pki.chain)
    assert (v.reason, v.rfc) == (DaneReason.EMPTY_HASH, RfcOutcome.DEFER)
    v = verdict([TlsaRecord(2, 0, 2, hashlib.sha512(b"").digest())], pki.chain)
    assert v.reason is DaneReason.EMPTY_HASH


def test_wrong_usage(pki: Pki) -> None:
    v = verdict([pki.inter.tlsa(3, 1, 1)], pki.chain)
    assert (v.reason, v.rfc) == (DaneReason.WRONG_USAGE, RfcOutcome.DEFER)
    v = verdict([pki.leaf.tlsa(2, 1, 1)], pki.chain)
    assert v.reason is DaneReason.WRONG_USAGE
    # a PKIX-EE record on the leaf next to a failing DANE record: wrong usage for SMTP
    v = verdict([pki.leaf.tlsa(1, 1, 1), TlsaRecord(3, 1, 1, junk())], pki.chain)
    assert v.reason is DaneReason.WRONG_USAGE


def test_wrong_selector(pki: Pki) -> None:
    spki_digest = pki.leaf.tlsa(3, 1, 1).data
    v = verdict([TlsaRecord(3, 0, 1, spki_digest)], pki.chain)
    assert (v.reason, v.diagnoses) == (DaneReason.WRONG_SELECTOR, (DaneReason.WRONG_SELECTOR,))


def test_wrong_matching_type(pki: Pki) -> None:
    sha512_under_type_1 = TlsaRecord(3, 1, 1, pki.leaf.tlsa(3, 1, 2).data)
    assert not sha512_under_type_1.usable
    v = verdict([sha512_under_type_1, TlsaRecord(3, 1, 1, junk())], pki.chain)
    assert (v.reason, v.rfc) == (DaneReason.WRONG_MATCHING_TYPE, RfcOutcome.DEFER)
    # alone it is unusable: Postfix falls back to encrypt-only; the measurement view names the
    # mistake (paper Figure 4), and "no usable TLSA" stays among the diagnoses
    v = verdict([sha512_under_type_1], pki.chain)
    assert (v.reason, v.rfc) == (DaneReason.WRONG_MATCHING_TYPE, RfcOutcome.ENCRYPT_ONLY)
    assert DaneReason.NO_USABLE_TLSA in v.diagnoses


def test_matches_old_certificate(pki: Pki) -> None:
    old_leaf = issue(HOST, pki.inter)
    v = verdict([old_leaf.tlsa(3, 1, 1)], pki.chain, history=[old_leaf.der, pki.leaf.der])
    assert (v.reason, v.rfc) == (DaneReason.MATCHES_OLD_CERTIFICATE, RfcOutcome.DEFER)
    assert verdict([old_leaf.tlsa(3, 1, 1)], pki.chain).reason is DaneReason.NO_MATCH


def test_no_match_and_undefined_field(pki: Pki) -> None:
    v = verdict([TlsaRecord(3, 1, 1, junk())], pki.chain)
    assert (v.reason, v.depth, v.matched) == (DaneReason.NO_MATCH, -1, None)
    v = verdict([TlsaRecord(3, 1, 1, junk()), TlsaRecord(3, 1, 7, junk())], pki.chain)
    assert (v.reason, v.rfc) == (DaneReason.UNDEFINED_FIELD, RfcOutcome.DEFER)


def test_primary_reason_follows_documented_order(pki: Pki) -> None:
    records = [
        pki.leaf.tlsa(2, 1, 1),  # wrong usage
        TlsaRecord(3, 1, 1, hashlib.sha256(b"").digest()),  # empty hash
        TlsaRecord(3, 0, 1, pki.leaf.tlsa(3, 1, 1).data),  # wrong selector
    ]
    for order in (records, records[::-1]):
        v = verdict(order, pki.chain)
        assert v.diagnoses == (
            DaneReason.EMPTY_HASH,
            DaneReason.WRONG_USAGE,
            DaneReason.WRONG_SELECTOR,
        )
        assert v.reason is DaneReason.EMPTY_HASH


# --- paper view (PKIX against a root store) ------------------------------------------------


def test_paper_view_pkix(pki: Pki) -> None:
    store = TrustStore.from_der([pki.root.der])
    v = verdict([pki.leaf.tlsa(1, 1, 1)], pki.chain, trust_store=store)
    assert (v.valid, v.rfc, v.paper_valid, v.paper_depth) == (
        False,
        RfcOutcome.ENCRYPT_ONLY,
        True,
        0,
    )
    v = verdict([pki.root.tlsa(0, 1, 1)], pki.chain, trust_store=store)
    assert (v.paper_valid, v.paper_depth) == (True, 2)
    v = verdict([pki.leaf.tlsa(1, 1, 1)], pki.chain, trust_store=TrustStore.from_der([]))
    assert (v.paper_valid, v.paper_reason, v.paper_depth) == (
        False,
        DaneReason.CHAIN_INVALID,
        0,
    )
    v = verdict([pki.leaf.tlsa(1, 1, 1)], pki.chain, trust_store=store, host="other.example")
    assert v.paper_reason is DaneReason.NAME_MISMATCH
    no_store = verdict([pki.leaf.tlsa(1, 1, 1)], pki.chain)
    assert (no_store.paper_valid, no_store.paper_reason) == (False, DaneReason.NO_USABLE_TLSA)


def test_paper_view_counts_dane_records_too(pki: Pki) -> None:
    store = TrustStore.from_der([])
    v = verdict([pki.leaf.tlsa(3, 1, 1)], pki.chain, trust_store=store)
    assert (v.valid, v.paper_valid) == (True, True)


# --- digests for the database --------------------------------------------------------------


def test_digests(pki: Pki) -> None:
    v = verdict([TlsaRecord(3, 1, 1, junk())], pki.full_chain)
    assert v.leaf_spki_sha256 == hashlib.sha256(pki.leaf.spki).digest()
    assert v.leaf_spki_sha512 == hashlib.sha512(pki.leaf.spki).digest()
    assert v.leaf_cert_sha256 == hashlib.sha256(pki.leaf.der).digest()
    assert v.chain_sha256 == tuple(hashlib.sha256(d).digest() for d in pki.full_chain)
    failed = verdict([TlsaRecord(3, 1, 1, junk())], (), smtp=SmtpStatus.NO_STARTTLS)
    assert (failed.leaf_cert_sha256, failed.chain_sha256) == (None, ())


def test_naive_time_is_refused(pki: Pki) -> None:
    with pytest.raises(ValueError, match="timezone"):
        dane_verdict(
            HOST,
            TlsaEvidence.of([pki.leaf.tlsa(3, 1, 1)]),
            TlsEvidence(SmtpStatus.OK, pki.chain),
            NOW.replace(tzinfo=None),
        )
