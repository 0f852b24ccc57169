"""Certificates ``cryptography`` cannot load, or loads only with a warning: read as far as they go,
stored with their reason, judged per the RFC, and never a crash or a printed warning."""

from __future__ import annotations

import base64
import hashlib
import random
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path

import certifi
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from lab import oddcerts
from tests.unit.test_dane_pki import NOW, YEAR, Issued, issue
from workers.dane import TlsaEvidence, TlsaRecord, TlsEvidence, TrustStore, dane_verdict
from workers.dane.certs import parse_cert, parse_chain
from workers.dane.der import DerError, certificate_spki, spki_algorithm
from workers.dane.loading import NON_POSITIVE_SERIAL, load_der
from workers.dane.roots import mozilla_trust_store
from workers.scan.rows import certificate_row
from workers.vocab import DaneReason, DnssecReason, DnssecStatus, RfcOutcome, SmtpStatus

HOST = "mx.odd.test"


@pytest.fixture(autouse=True)
def warnings_are_errors() -> Iterator[None]:
    """Any warning that escapes the code under test fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


@pytest.fixture(scope="module")
def ca() -> Issued:
    return issue("odd ca", ca=True)


@pytest.fixture(scope="module")
def odd(ca: Issued) -> dict[str, bytes]:
    key = ca.key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return oddcerts.odd_key_certificates(key, "odd ca")


def leaf_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def signer(ca: Issued) -> ec.EllipticCurvePrivateKey:
    assert isinstance(ca.key, ec.EllipticCurvePrivateKey)
    return ca.key


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def verdict(records: list[TlsaRecord], chain: list[bytes],
            smtp: SmtpStatus = SmtpStatus.OK) -> tuple[DaneReason, RfcOutcome, int]:
    v = dane_verdict(HOST, TlsaEvidence.of(records, DnssecStatus.SECURE, DnssecReason.NONE),
                     TlsEvidence(smtp, tuple(chain)), NOW)
    return v.reason, v.rfc, v.depth


# --- the DER walk ---------------------------------------------------------------------------


def test_spki_cut_from_der_equals_cryptography_on_the_mozilla_roots() -> None:
    pem = Path(certifi.where()).read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the bundle's non-positive serials
        roots = x509.load_pem_x509_certificates(pem)
    assert len(roots) > 100
    for root in roots:
        spki = root.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        assert certificate_spki(root.public_bytes(Encoding.DER)) == spki


def test_spki_shape_of_keys_cryptography_cannot_load(odd: dict[str, bytes]) -> None:
    shapes = {name: spki_algorithm(certificate_spki(der)) for name, der in odd.items()}
    assert shapes["ec-prime239v1"].parameter == "1.2.840.10045.3.1.4"
    assert shapes["ec-prime192v2"].parameter == "1.2.840.10045.3.1.2"
    assert shapes["ec-sm2"].parameter == "1.2.156.10197.1.301"
    assert shapes["unknown-algorithm"].algorithm == oddcerts.UNKNOWN_ALGORITHM
    assert shapes["rsa-70000"].key_bits == 70_000


def test_explicit_curve_spki_is_kept_as_sent(ca: Issued) -> None:
    key = leaf_key()
    der = oddcerts.explicit_curve_leaf(key, HOST, signer(ca), "odd ca")
    sent = oddcerts.explicit_p256_spki(key.public_key())
    assert certificate_spki(der) == sent
    # cryptography re-encodes the key with the curve's name: not the bytes OpenSSL hashes
    assert oddcerts.named_spki(key.public_key()) != sent
    info = parse_cert(der)
    assert info is not None and info.spki == sent


def test_hostile_der_gives_der_error_only(ca: Issued) -> None:
    der = issue(HOST, ca).der
    for cut in range(len(der)):
        with pytest.raises(DerError):
            certificate_spki(der[:cut])
    rnd = random.Random(7)
    for _ in range(2000):
        mangled = bytearray(der)
        for _ in range(rnd.randint(1, 4)):
            mangled[rnd.randrange(len(der))] = rnd.randrange(256)
        try:
            spki = certificate_spki(bytes(mangled))
        except DerError:
            continue
        assert spki and bytes(mangled).find(spki) > 0
    for blob in (b"", b"\x30", b"\x30\x84\xff\xff\xff\xff", b"\x30\x85" + b"\x00" * 5,
                 b"\x1f\x00", b"\x30\x03\x02\x01\x00"):
        with pytest.raises(DerError):
            certificate_spki(blob)


# --- loading quietly --------------------------------------------------------------------------


def test_non_positive_serial_is_a_note_not_a_warning(ca: Issued) -> None:
    der = oddcerts.quirky_leaf(leaf_key(), HOST, signer(ca), "odd ca")
    loaded = load_der(der)  # warnings are errors here: nothing may escape
    assert loaded.cert is not None and loaded.notes == (NON_POSITIVE_SERIAL,)


def test_trust_store_skips_and_counts_roots_it_cannot_use(ca: Issued, odd: dict[str, bytes]) -> None:
    good = issue("good root", ca=True).der
    zero = oddcerts.quirky_leaf(leaf_key(), "zero serial root", signer(ca), "odd ca")
    broken = oddcerts.unloadable_leaf(leaf_key(), "broken", signer(ca), "odd ca")

    def pem(der: bytes) -> str:
        body = "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
        return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"

    bundle = "".join(pem(d) for d in (good, zero, broken, odd["ec-prime239v1"]))
    bundle += "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n"
    store = TrustStore.from_pem(bundle.encode())
    assert {r.der for r in store.roots} == {good, zero}
    assert len(store.skipped) == 3
    assert any("public key cannot be loaded" in s for s in store.skipped)
    assert any("not base64" in s for s in store.skipped)
    assert [n.endswith(NON_POSITIVE_SERIAL) for n in store.notes] == [True]


def test_the_mozilla_bundle_loads_without_a_warning() -> None:
    store = mozilla_trust_store()
    assert len(store.roots) > 100 and not store.skipped
    assert store.notes and all(n.endswith(NON_POSITIVE_SERIAL) for n in store.notes)


# --- stored rows ----------------------------------------------------------------------------


def test_odd_keys_are_stored_with_their_reason(odd: dict[str, bytes]) -> None:
    rows = {name: certificate_row("s", der, NOW, False, 0) for name, der in odd.items()}
    for name, der in odd.items():
        row = rows[name]
        assert row.der == der and row.sha256 == hashlib.sha256(der).hexdigest()
        assert row.spki_sha256 == hashlib.sha256(certificate_spki(der)).hexdigest()
        assert row.subject == f"CN=odd {name.replace('ec-', '').replace('-', ' ')}"
    for name in ("ec-prime239v1", "ec-prime192v2", "ec-sm2"):
        assert rows[name].key_type == name
        assert [p.split(":")[0] for p in rows[name].problems] == ["public key"]
        assert "UnsupportedAlgorithm" in rows[name].problems[0]
    assert rows["unknown-algorithm"].key_type == f"oid-{oddcerts.UNKNOWN_ALGORITHM}"
    assert "Unknown key type" in rows["unknown-algorithm"].problems[0]
    assert (rows["rsa-70000"].key_type, rows["rsa-70000"].key_bits) == ("rsa", 70_000)
    assert rows["rsa-70000"].problems == []


def test_quirky_leaf_row_flags_clamped_dates_and_what_raised(ca: Issued) -> None:
    der = oddcerts.quirky_leaf(leaf_key(), HOST, signer(ca), "odd ca", duplicate_san=True)
    row = certificate_row("s", der, NOW, True, 0)
    assert (row.not_before, row.not_after) == (0, 2**32 - 1)
    assert row.clamped == ["not_before=1950-01-01T00:00:00+00:00",
                           "not_after=9999-12-31T23:59:59+00:00"]
    assert row.problems[0].startswith("extensions: DuplicateExtension")
    assert NON_POSITIVE_SERIAL in row.problems
    assert (row.subject, row.key_type, row.key_bits, row.san) == (f"CN={HOST}", "ec-secp256r1",
                                                                  256, [])
    assert row.is_ca_issued == 1


def test_unloadable_certificate_keeps_der_digest_and_key_shape(ca: Issued) -> None:
    der = oddcerts.unloadable_leaf(leaf_key(), HOST, signer(ca), "odd ca")
    row = certificate_row("s", der, NOW, False, 0)
    assert row.der == der and row.sha256 == hashlib.sha256(der).hexdigest()
    assert row.problems[0].startswith("certificate: ValueError")
    assert (row.key_type, row.subject, row.not_after) == ("ec-secp256r1", "", 0)
    assert row.spki_sha256 == hashlib.sha256(certificate_spki(der)).hexdigest()
    garbage = certificate_row("s", b"\x30\x03abc", NOW, False, 0)
    assert garbage.sha256 == hashlib.sha256(b"\x30\x03abc").hexdigest()
    assert [p.split(":")[0] for p in garbage.problems] == ["subjectPublicKeyInfo", "certificate"]
    assert garbage.spki_sha256 == ""


# --- the verdict ----------------------------------------------------------------------------


def test_leaf_whose_key_cannot_be_loaded_matches_dane_ee(ca: Issued) -> None:
    point = b"\x04" + bytes(range(1, 61))
    spki = oddcerts.ec_spki(oddcerts.CURVES["prime239v1"], point)
    leaf = oddcerts.certificate(spki=spki, subject=HOST, issuer="odd ca", signer=signer(ca),
                                not_before=NOW - YEAR, not_after=NOW + YEAR,
                                extensions=(oddcerts.san(HOST),))
    info = parse_cert(leaf)
    assert info is not None and info.key is None
    chain = [leaf, ca.der]
    assert verdict([TlsaRecord(3, 1, 1, sha256(spki))], chain)[:2] == (DaneReason.NONE,
                                                                      RfcOutcome.VERIFIED)
    assert verdict([TlsaRecord(3, 0, 1, sha256(leaf))], chain)[:2] == (DaneReason.NONE,
                                                                      RfcOutcome.VERIFIED)
    # the leaf parsed: its signature by the anchor's key is checked as usual
    ta = TlsaRecord(2, 1, 1, sha256(ca.spki))
    assert verdict([ta], chain) == (DaneReason.NONE, RfcOutcome.VERIFIED, 1)


def test_explicit_curve_leaf_matches_the_spki_as_sent(ca: Issued) -> None:
    key = leaf_key()
    leaf = oddcerts.certificate(spki=oddcerts.explicit_p256_spki(key.public_key()), subject=HOST,
                                issuer="odd ca", signer=signer(ca), not_before=NOW - YEAR,
                                not_after=NOW + YEAR, extensions=(oddcerts.san(HOST),))
    sent = TlsaRecord(3, 1, 1, sha256(oddcerts.explicit_p256_spki(key.public_key())))
    renamed = TlsaRecord(3, 1, 1, sha256(oddcerts.named_spki(key.public_key())))
    assert verdict([sent], [leaf])[:2] == (DaneReason.NONE, RfcOutcome.VERIFIED)
    assert verdict([renamed], [leaf])[0] is DaneReason.NO_MATCH


def test_leaf_cryptography_cannot_load_is_matched_by_its_bytes(ca: Issued) -> None:
    leaf = oddcerts.unloadable_leaf(leaf_key(), HOST, signer(ca), "odd ca")
    assert parse_chain([leaf, ca.der]).raw_leaf is not None
    chain = [leaf, ca.der]
    spki = certificate_spki(leaf)
    for status in (SmtpStatus.CERT_UNPARSABLE, SmtpStatus.OK):
        for rec in (TlsaRecord(3, 0, 1, sha256(leaf)), TlsaRecord(3, 1, 1, sha256(spki)),
                    TlsaRecord(3, 1, 0, spki)):
            assert verdict([rec], chain, status) == (DaneReason.NONE, RfcOutcome.VERIFIED, 0)
        assert verdict([TlsaRecord(3, 1, 1, b"\x11" * 32)], chain, status)[0] \
            is DaneReason.NO_MATCH
    # DANE-TA needs the leaf parsed: the path cannot be checked
    ta = TlsaRecord(2, 1, 1, sha256(ca.spki))
    assert verdict([ta], chain, SmtpStatus.CERT_UNPARSABLE) == (DaneReason.CHAIN_INVALID,
                                                                RfcOutcome.DEFER, 1)
    # the issuer's digest under usage 3: the usual wrong-usage diagnosis
    wrong = TlsaRecord(3, 1, 1, sha256(ca.spki))
    assert verdict([wrong], chain, SmtpStatus.CERT_UNPARSABLE)[0] is DaneReason.WRONG_USAGE


def test_bytes_that_are_no_certificate_are_a_failed_handshake() -> None:
    rec = TlsaRecord(3, 0, 1, sha256(b"\x30\x03abc"))
    for status in (SmtpStatus.CERT_UNPARSABLE, SmtpStatus.OK):
        assert verdict([rec], [b"\x30\x03abc"], status)[:2] == (DaneReason.HANDSHAKE_FAILED,
                                                               RfcOutcome.DEFER)


def test_odd_intermediates_do_not_spoil_a_good_leaf(ca: Issued, odd: dict[str, bytes]) -> None:
    leaf = issue(HOST, ca)
    chain = [leaf.der, *odd.values(), ca.der]
    assert verdict([leaf.tlsa(3, 1, 1)], chain)[:2] == (DaneReason.NONE, RfcOutcome.VERIFIED)
    assert verdict([TlsaRecord(2, 1, 1, sha256(ca.spki))], chain)[:2] == (
        DaneReason.NONE, RfcOutcome.VERIFIED)
    odd_spki = certificate_spki(odd["ec-sm2"])
    assert verdict([TlsaRecord(2, 1, 1, sha256(odd_spki))], chain)[0] is DaneReason.CHAIN_INVALID


def test_certificate_without_a_loadable_key_verifies_nothing(odd: dict[str, bytes]) -> None:
    above = odd["unknown-algorithm"]
    info = parse_cert(above)
    assert info is not None and info.key is None
    leaf = issue(HOST, issuer_name="odd unknown algorithm")  # names it as issuer
    record = TlsaRecord(2, 0, 1, sha256(above))
    assert verdict([record], [leaf.der, above]) == (DaneReason.CHAIN_INVALID, RfcOutcome.DEFER, 1)
