"""The DANE-TA anchor's own dates: the verdict's RFC outcome against OpenSSL itself.

Each case serves a chain with ``openssl s_server`` on a loopback address and asks ``openssl
s_client -dane_tlsa_rrdata`` (OpenSSL's DANE, which Postfix uses) whether it verifies; the
verdict's ``rfc`` must say ``verified`` exactly when OpenSSL prints ``Verification: OK``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from tests.unit.test_dane_pki import YEAR, Issued, issue
from workers.dane import TlsaEvidence, TlsaRecord, TlsEvidence, dane_verdict
from workers.vocab import RfcOutcome, SmtpStatus

pytestmark = [pytest.mark.oracle]
HOST = "mx.example.net"
ADDRESS = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((ADDRESS, 0))
        return int(s.getsockname()[1])


def _pem(*certs: Issued) -> bytes:
    return b"".join(c.cert.public_bytes(serialization.Encoding.PEM) for c in certs)


def openssl_verifies(tmp: Path, leaf: Issued, sent: tuple[Issued, ...], record: TlsaRecord) -> bool:
    (tmp / "leaf.pem").write_bytes(_pem(leaf))
    (tmp / "key.pem").write_bytes(leaf.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    args = ["openssl", "s_server", "-accept", f"{ADDRESS}:{(port := _free_port())}",
            "-cert", str(tmp / "leaf.pem"), "-key", str(tmp / "key.pem"), "-quiet", "-naccept", "2"]  # 2: the readiness probe is one
    if sent:
        (tmp / "chain.pem").write_bytes(_pem(*sent))
        args += ["-cert_chain", str(tmp / "chain.pem")]
    server = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex((ADDRESS, port)) == 0:
                    break
            time.sleep(0.05)
        rrdata = f"{record.usage} {record.selector} {record.mtype} {record.data.hex()}"
        out = subprocess.run(
            ["openssl", "s_client", "-connect", f"{ADDRESS}:{port}", "-servername", HOST,
             "-dane_tlsa_domain", HOST, "-dane_tlsa_rrdata", rrdata],
            input=b"Q\n", capture_output=True, timeout=30).stdout.decode(errors="replace")
    finally:
        server.kill()
        server.wait()
    # s_client answers the question once per session summary
    assert "Verification" in out, out
    return "Verification: OK" in out


def _cases(now: datetime) -> list[tuple[str, Issued, tuple[Issued, ...], TlsaRecord]]:
    """Dates around the real clock: OpenSSL judges them at the time of the handshake."""
    current = {"not_before": now - YEAR, "not_after": now + YEAR}
    old_root = issue("Old Root", ca=True, not_before=now - 3 * YEAR, not_after=now - YEAR)
    inter = issue("CA", old_root, ca=True, **current)
    leaf = issue(HOST, inter, sans=[HOST], **current)
    current_root = issue("Current Root", ca=True, **current)
    old_inter = issue("Old CA", current_root, ca=True, not_before=now - YEAR,
                      not_after=now - YEAR / 2)
    leaf2 = issue(HOST, old_inter, sans=[HOST], **current)
    return [
        ("expired root sent, 2 0 1", leaf, (inter, old_root), old_root.tlsa(2, 0, 1)),
        ("expired root sent, 2 1 1", leaf, (inter, old_root), old_root.tlsa(2, 1, 1)),
        ("expired root in DNS, 2 0 0", leaf, (inter,), old_root.tlsa(2, 0, 0)),
        ("expired root key in DNS, 2 1 0", leaf, (inter,), old_root.tlsa(2, 1, 0)),
        ("expired intermediate, 2 0 1", leaf2, (old_inter,), old_inter.tlsa(2, 0, 1)),
        ("expired intermediate, 2 1 1", leaf2, (old_inter,), old_inter.tlsa(2, 1, 1)),
        ("current leaf, 3 0 1", leaf2, (old_inter,), leaf2.tlsa(3, 0, 1)),
    ]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_rfc_outcome_follows_openssl_on_trust_anchor_dates(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    outcomes = {}
    for label, leaf, sent, record in _cases(now):
        chain = (leaf.der, *(c.der for c in sent))
        ours = dane_verdict(HOST, TlsaEvidence.of([record]), TlsEvidence(SmtpStatus.OK, chain), now)
        theirs = openssl_verifies(tmp_path, leaf, sent, record)
        outcomes[label] = (ours.rfc is RfcOutcome.VERIFIED, theirs)
    disagree = {k: v for k, v in outcomes.items() if v[0] != v[1]}
    assert not disagree, f"(danescan verified, openssl verified): {disagree}"
    # the cases are not all alike: both outcomes occur
    assert {v[1] for v in outcomes.values()} == {True, False}
