"""TLSA record usability (RFC 6698/7672, OpenSSL SSL_dane_tlsa_add) and digest agility."""

from __future__ import annotations

import hashlib

import pytest

from tests.unit.test_dane_pki import issue
from workers.dane import RecordDefect, TlsaRecord
from workers.dane.tlsa import agility_filter

D32 = bytes(range(32))
D64 = bytes(range(64))


@pytest.mark.parametrize(
    ("record", "defect"),
    [
        (TlsaRecord(3, 1, 1, D32), RecordDefect.NONE),
        (TlsaRecord(2, 0, 2, D64), RecordDefect.NONE),
        (TlsaRecord(1, 1, 1, D32), RecordDefect.PKIX_USAGE),
        (TlsaRecord(0, 0, 1, D32), RecordDefect.PKIX_USAGE),
        (TlsaRecord(4, 1, 1, D32), RecordDefect.UNDEFINED_USAGE),
        (TlsaRecord(255, 1, 1, D32), RecordDefect.UNDEFINED_USAGE),
        (TlsaRecord(3, 2, 1, D32), RecordDefect.UNDEFINED_SELECTOR),
        (TlsaRecord(3, 1, 3, D32), RecordDefect.UNDEFINED_MTYPE),
        (TlsaRecord(3, 1, 1, D64), RecordDefect.BAD_DIGEST_LENGTH),
        (TlsaRecord(3, 1, 2, D32), RecordDefect.BAD_DIGEST_LENGTH),
        (TlsaRecord(3, 1, 1, b""), RecordDefect.BAD_DIGEST_LENGTH),
        (TlsaRecord(3, 0, 0, D32), RecordDefect.BAD_FULL_DATA),
        (TlsaRecord(1, 1, 1, D64), RecordDefect.BAD_DIGEST_LENGTH),
    ],
)
def test_defects(record: TlsaRecord, defect: RecordDefect) -> None:
    assert record.defect is defect
    assert record.usable is (defect is RecordDefect.NONE)


def test_full_records_must_parse() -> None:
    leaf = issue("mx.example.net")
    assert TlsaRecord(3, 0, 0, leaf.der).usable
    assert TlsaRecord(3, 1, 0, leaf.spki).usable
    assert TlsaRecord(3, 1, 0, leaf.der).defect is RecordDefect.BAD_FULL_DATA  # cert as SPKI
    assert TlsaRecord(2, 0, 0, leaf.der + b"\x00").defect is RecordDefect.BAD_FULL_DATA
    assert TlsaRecord(0, 0, 0, leaf.der).well_formed and not TlsaRecord(0, 0, 0, leaf.der).usable


def test_undefined_flag() -> None:
    assert RecordDefect.UNDEFINED_MTYPE.undefined
    assert not RecordDefect.BAD_DIGEST_LENGTH.undefined
    assert not RecordDefect.PKIX_USAGE.undefined


def test_empty_hash() -> None:
    assert TlsaRecord(3, 1, 1, hashlib.sha256(b"").digest()).is_empty_hash
    assert TlsaRecord(3, 1, 2, hashlib.sha512(b"").digest()).is_empty_hash
    assert not TlsaRecord(3, 1, 1, D32).is_empty_hash


def test_text_form_round_trip() -> None:
    rec = TlsaRecord.from_text("3 1 1 " + D32.hex().upper()[:10] + " " + D32.hex()[10:])
    assert rec == TlsaRecord(3, 1, 1, D32)
    assert TlsaRecord.from_text(str(rec)) == rec
    with pytest.raises(ValueError):
        TlsaRecord.from_text("3 1 1")
    with pytest.raises(ValueError):
        TlsaRecord(256, 1, 1, D32)


def test_agility_keeps_only_the_preferred_digest_per_usage_and_selector() -> None:
    a = TlsaRecord(3, 1, 1, D32)
    b = TlsaRecord(3, 1, 2, D64)
    c = TlsaRecord(3, 0, 1, D32)
    d = TlsaRecord(3, 1, 0, b"full")
    e = TlsaRecord(2, 1, 1, D32)
    assert agility_filter((a, b, c, d, e)) == (b, c, d, e)
    assert agility_filter((a, c)) == (a, c)
    assert agility_filter((a, b), preference=(1, 2)) == (a,)
