"""``danescan check --json`` (and the watch webhook's payload, the same JSON) on a certificate a
server may present: an issuer name cryptography cannot parse (an UTF8String that is not UTF-8)
loads as a certificate, and only fails when the name is read. The report must still come out."""

from __future__ import annotations

import datetime as dt

from cryptography.hazmat.primitives.serialization import Encoding

from tests.unit.test_dane_pki import NOW, issue
from workers.dane import TlsaRecord
from workers.dane.certs import parse_cert
from workers.dane.expiry import renewal_risk
from workers.dane.verdict import Verdict
from workers.scan.check import AddressReport
from workers.smtp import StarttlsEvidence
from workers.smtp.evidence import ProbeStep
from workers.vocab import DaneReason, RfcOutcome, SmtpStatus

HOST = "mx.hostile.test"


def _bad_names(der: bytes, name: bytes) -> bytes:
    """``der`` with every UTF8String ``name`` made invalid UTF-8 (same length)."""
    raw = bytearray(der)
    start = 0
    while (i := raw.find(name, start)) > 0:
        if raw[i - 1] == len(name) and raw[i - 2] in (0x0C, 0x13):
            raw[i - 2] = 0x0C
            raw[i:i + 2] = b"\xff\xfe"
        start = i + 1
    return bytes(raw)


def test_to_json_survives_unreadable_names() -> None:
    ca = issue("Hostile Test CA", ca=True)
    leaf = issue(HOST, ca)
    der = _bad_names(leaf.cert.public_bytes(Encoding.DER), b"Hostile Test CA")
    info = parse_cert(der)
    assert info is not None  # it loads: only reading the issuer fails
    probe = StarttlsEvidence(SmtpStatus.OK, HOST, "127.0.0.1", 25, HOST,
                             dt.datetime(2026, 1, 1, tzinfo=dt.UTC), ProbeStep.DONE, chain=(der,))
    verdict = Verdict(valid=True, reason=DaneReason.NONE, rfc=RfcOutcome.VERIFIED,
                      paper_valid=True, paper_reason=DaneReason.NONE)
    out = AddressReport("127.0.0.1", probe, verdict, None).to_json()
    assert out["leaf"]["issuer"] == "" and HOST in out["leaf"]["subject"]
    assert out["leaf"]["cert_sha256"] == info.cert_sha256.hex()


def test_renewal_risk_survives_an_unreadable_pinned_ca() -> None:
    ca = issue("Hostile Test CA", ca=True)
    leaf = issue(HOST, ca)
    ca_der = _bad_names(ca.cert.public_bytes(Encoding.DER), b"Hostile Test CA")
    pinned = parse_cert(ca_der)
    assert pinned is not None
    record = TlsaRecord(2, 1, 1, pinned.spki_sha256)
    far = NOW + dt.timedelta(days=36500)
    risk = renewal_risk(HOST, (record,), (leaf.cert.public_bytes(Encoding.DER), ca_der), far,
                        30, (), 3600)
    assert risk is not None and "expire" in risk.sentence
