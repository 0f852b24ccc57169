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


def test_to_json_and_renewal_risk_survive_unreadable_names() -> None:
    """Such a certificate is unparsable (workers.dane.certs.cert_info, as OpenSSL): the leaf is
    known by its digests only, the CA is no pinned certificate; nothing raises."""
    ca = issue("Hostile Test CA", ca=True)
    leaf = issue(HOST, ca)
    ca_der, leaf_der = (c.cert.public_bytes(Encoding.DER) for c in (ca, leaf))
    bad_leaf = _bad_names(leaf_der, b"Hostile Test CA")
    assert parse_cert(bad_leaf) is None
    probe = StarttlsEvidence(SmtpStatus.OK, HOST, "127.0.0.1", 25, HOST,
                             dt.datetime(2026, 1, 1, tzinfo=dt.UTC), ProbeStep.DONE,
                             chain=(bad_leaf, ca_der))
    verdict = Verdict(valid=True, reason=DaneReason.NONE, rfc=RfcOutcome.VERIFIED,
                      paper_valid=True, paper_reason=DaneReason.NONE)
    out = AddressReport("127.0.0.1", probe, verdict, None).to_json()
    assert out["leaf"] is None and out["smtp"]["chain_length"] == 2

    bad_ca = _bad_names(ca_der, b"Hostile Test CA")
    record = TlsaRecord(2, 1, 1, ca.tlsa(2, 1, 1).data)
    far = NOW + dt.timedelta(days=36500)
    assert renewal_risk(HOST, (record,), (leaf_der, bad_ca), far, 30, (), 3600) is None
    # the same chain with the CA readable: the pinned CA has expired by then, a warning
    risk = renewal_risk(HOST, (record,), (leaf_der, ca_der), far, 30, (), 3600)
    assert risk is not None and "Hostile Test CA" in risk.sentence


def test_the_verdict_survives_unreadable_names() -> None:
    """A 2 1 1 record walks the chain by names: a CA (or leaf) whose subject or issuer cannot
    be parsed is an unparsable certificate (as OpenSSL, whose name decoding fails on invalid
    UTF-8, refuses it), not a ValueError out of the verdict; DANE-EE still matches the leaf."""
    from workers.dane import TlsaEvidence, TlsEvidence, dane_verdict

    ca = issue("Hostile Test CA", ca=True)
    leaf = issue(HOST, ca)
    ca_der, leaf_der = (c.cert.public_bytes(Encoding.DER) for c in (ca, leaf))
    pin = TlsaRecord(2, 1, 1, ca.tlsa(2, 1, 1).data)
    for chain in ((leaf_der, _bad_names(ca_der, b"Hostile Test CA")),
                  (_bad_names(leaf_der, b"Hostile Test CA"), ca_der)):
        v = dane_verdict(HOST, TlsaEvidence.of([pin]), TlsEvidence(SmtpStatus.OK, chain), NOW)
        assert not v.valid
        ee = dane_verdict(HOST, TlsaEvidence.of([TlsaRecord(3, 0, 1, _sha256(chain[0]))]),
                          TlsEvidence(SmtpStatus.OK, chain), NOW)
        assert ee.valid and ee.rfc is RfcOutcome.VERIFIED


def _sha256(data: bytes) -> bytes:
    import hashlib

    return hashlib.sha256(data).digest()
