"""Hostile certificates from real STARTTLS servers, scanned end to end into chdb and clickhouse-server.

The servers are ``lab.smtpd`` processes on 127.75.1.0/24 presenting chains written by hand
(``lab.oddcerts``): keys on curves ``cryptography`` does not load (prime239v1, prime192v2, SM2),
an unknown key algorithm and a 70,000-bit RSA modulus above a good leaf; a leaf with serial 0 and
dates 1950..9999 next to a certificate with its subjectAltName twice; a leaf ``cryptography``
cannot load at all; a leaf whose EC key carries explicit curve parameters; a chain longer than the
probe keeps. DNSSEC comes from the DNS test bed (NSD + validating unbound on 127.88.12.x), which
publishes a secure TLSA record for each host. ``danescan scan`` runs with Python's ``-W error``
(ResourceWarning aside, see danescan_scan) and the default public roots (certifi's bundle has serial-0 roots): it must end with rc 0 and
print no warning, store every domain, store the odd certificates with their reason, and a resume
must add nothing. The verdicts on the leaves ``cryptography`` cannot read agree with OpenSSL's
(``openssl s_client -dane_tlsa_rrdata``).
"""

from __future__ import annotations

import base64
import hashlib
import queue
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from lab import oddcerts
from lab.smtpd_certs import write_chain
from tests.integration.smtpd_process import SmtpdProcess
from workers.dane.der import certificate_spki
from workers.dns.testbed import Testbed, build
from workers.store.backend import connect

NET = "127.75.1"
DNS_NET = 12  # the test bed on 127.88.12.x
CA = "hostile test ca"


@dataclass(frozen=True)
class Host:
    domain: str  # the SLD under test.
    ip: str
    chain: list[bytes]  # as presented, leaf first
    tlsa: str  # "u s m hex"


@dataclass(frozen=True)
class World:
    bed: Testbed
    hosts: dict[str, Host]  # by short name
    certs: dict[str, bytes]  # the odd certificates by name
    domains_file: Path


def _pem(ders: list[bytes]) -> str:
    return "".join(
        "-----BEGIN CERTIFICATE-----\n"
        + "\n".join(textwrap.wrap(base64.b64encode(d).decode(), 64))
        + "\n-----END CERTIFICATE-----\n"
        for d in ders
    )


def _key_file(path: Path, key: ec.EllipticCurvePrivateKey) -> str:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return str(path)


def _tlsa(usage: int, selector: int, der: bytes) -> str:
    data = der if selector == 0 else certificate_spki(der)
    return f"{usage} {selector} 1 {hashlib.sha256(data).hexdigest()}"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    d = tmp_path_factory.mktemp("hostile")
    ca = ec.generate_private_key(ec.SECP256R1())
    odd = oddcerts.odd_key_certificates(ca, CA)
    hosts: dict[str, Host] = {}
    listeners: list[dict[str, Any]] = []

    def serve(name: str, n: int, chain: list[bytes], key_path: str, tlsa: str) -> None:
        chain_path = d / f"{name}.pem"
        chain_path.write_text(_pem(chain))
        hosts[name] = Host(f"{name}.test", f"{NET}.{n}", chain, tlsa)
        listeners.append({"ip": f"{NET}.{n}", "port": 25, "behaviour": "ok",
                          "hostname": f"mx.{name}.test",
                          "certs": {"*": {"chain": str(chain_path), "key": key_path}}})

    def leaf_for(name: str) -> tuple[ec.EllipticCurvePrivateKey, str]:
        key = ec.generate_private_key(ec.SECP256R1())
        return key, _key_file(d / f"{name}.key", key)

    def good_leaf(name: str) -> tuple[bytes, str]:
        key, key_path = leaf_for(name)
        leaf = oddcerts.certificate(spki=oddcerts.named_spki(key.public_key()),
                                    subject=f"mx.{name}.test", issuer=CA, signer=ca,
                                    extensions=(oddcerts.san(f"mx.{name}.test"),))
        return leaf, key_path

    # every odd key, the unknown algorithm included: openssl s_server behind a STARTTLS front
    leaf, key_path = good_leaf("oddchain")
    (d / "oddchain-leaf.pem").write_text(_pem([leaf]))
    (d / "oddchain-rest.pem").write_text(_pem(list(odd.values())))
    hosts["oddchain"] = Host("oddchain.test", f"{NET}.1", [leaf, *odd.values()],
                             _tlsa(3, 1, leaf))
    # the keys OpenSSL can decode, from lab.smtpd (its chain loaded at security level 0)
    leaf, key_path = good_leaf("oddkeys")
    serve("oddkeys", 2, [leaf, *(der for n, der in odd.items() if n != "unknown-algorithm")],
          key_path, _tlsa(3, 1, leaf))

    key, key_path = leaf_for("quirky")
    quirky = oddcerts.quirky_leaf(key, "mx.quirky.test", ca, CA)
    dup = oddcerts.quirky_leaf(ec.generate_private_key(ec.SECP256R1()), "duplicate san", ca, CA,
                               duplicate_san=True)
    serve("quirky", 3, [quirky, dup], key_path, _tlsa(3, 1, quirky))

    key, key_path = leaf_for("unloadable")
    unloadable = oddcerts.unloadable_leaf(key, "mx.unloadable.test", ca, CA)
    serve("unloadable", 4, [unloadable], key_path, _tlsa(3, 0, unloadable))
    serve("unloadspki", 5, [unloadable], key_path, _tlsa(3, 1, unloadable))

    key, key_path = leaf_for("explicit")
    explicit = oddcerts.explicit_curve_leaf(key, "mx.explicit.test", ca, CA)
    serve("explicit", 6, [explicit], key_path, _tlsa(3, 1, explicit))

    _, long_key, long_chain = write_chain(d, "mx.long.test", intermediates=69)
    serve("long", 7, long_chain, str(long_key), _tlsa(3, 1, long_chain[0]))

    certs = {**odd, "quirky": quirky, "duplicate-san": dup, "unloadable": unloadable,
             "explicit": explicit}
    zones = {h.domain.split(".")[0]: (
        f"@ IN MX 10 mx\nmx IN A {h.ip}\n_25._tcp.mx IN TLSA {h.tlsa}\n", True)
        for h in hosts.values()}
    # one MX target that is no usable name (a space in a label), next to a good one
    zones["refused"] = ("@ IN MX 10 a\\032b\n@ IN MX 20 mx.oddchain.test.\n", True)
    domains = d / "domains.txt"
    # expired.test: a bogus MX RRset in the bed (SERVFAIL): a failed query, stored with its tries
    domains.write_text("".join(f"{h.domain}\n" for h in hosts.values()) + "refused.test\n"
                       "expired.test\n")
    relay = Relay(["--ip", f"{NET}.1", "--hostname", "mx.oddchain.test",
                   "--cert", str(d / "oddchain-leaf.pem"), "--chain", str(d / "oddchain-rest.pem"),
                   "--key", str(d / "oddchain.key")])
    server = SmtpdProcess(d, {"listeners": listeners})
    server.start()
    try:
        relay.start()
        bed = build(str(d / "dns"), DNS_NET, int(time.time()), more_domains=zones)
        try:
            yield World(bed, hosts, certs, domains)
        finally:
            bed.stop()
    finally:
        relay.stop()
        assert server.stop() == 0


class Relay:
    """``python -m lab.starttls_relay`` as a subprocess: started, waited for, stopped."""

    def __init__(self, args: list[str]) -> None:
        self.args = args
        self.proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 60.0) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "lab.starttls_relay", *self.args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines: queue.Queue[str] = queue.Queue()
        assert self.proc.stdout is not None
        out = self.proc.stdout
        threading.Thread(target=lambda: lines.put(out.readline()), daemon=True).start()
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError("lab.starttls_relay did not say ready") from None
        if line.strip() != "ready":
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"lab.starttls_relay: {line!r} {err}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def danescan_scan(world: World, db: str, scan_id: str) -> subprocess.CompletedProcess[str]:
    """Every warning an error, but ResourceWarning (off by default, so never on a user's
    terminal): a probe's graceful TLS close can still be pending when a batch's event loop ends,
    and the interpreter then reports the socket it closes itself."""
    return subprocess.run(
        [sys.executable, "-W", "error", "-W", "ignore::ResourceWarning", "-m", "danescan.cli",
         "scan", str(world.domains_file),
         "--resolver", world.bed.resolver, "--trust-anchor", world.bed.anchor_file,
         "--db", db, "--scan-id", scan_id, "--batch", "3", "--no-progress"],
        capture_output=True, text=True, timeout=900, check=False)


COUNTED = ("domains", "dns_rrsets", "tlsa_records", "starttls_probes", "certificates",
           "dane_verdicts")


def counts(db: Any, scan_id: str) -> dict[str, int]:
    out = {}
    for table in COUNTED:
        where = "" if table == "certificates" else f" WHERE scan_id = '{scan_id}'"
        out[table] = int(db.query(f"SELECT count() FROM {table}{where}")[0][0])
    return out


@pytest.mark.clickhouse
@pytest.mark.slow
def test_hostile_chains_are_stored_never_fatal(world: World, db_target: str) -> None:
    r = danescan_scan(world, db_target, "hostile")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Warning" not in r.stderr and "Traceback" not in r.stderr, r.stderr[-3000:]
    db = connect(db_target)
    try:
        wanted = {h.domain for h in world.hosts.values()} | {"refused.test", "expired.test"}
        stored = {row[0] for row in db.query(
            "SELECT domain FROM domains FINAL WHERE scan_id = 'hostile'")}
        assert stored == wanted

        verdicts = {row[0]: row[1:] for row in db.query(
            "SELECT mx_host, valid, reason, rfc_outcome FROM dane_verdicts FINAL "
            "WHERE scan_id = 'hostile' AND ip = ''")}
        probes = db.query("SELECT mx_host, status, error FROM starttls_probes FINAL "
                          "WHERE scan_id = 'hostile'")
        for name in world.hosts:
            assert verdicts[f"mx.{name}.test"] == (1, "", "verified"), (name, probes)

        rows = {row[0]: row[1:] for row in db.query(
            "SELECT sha256, key_type, key_bits, problems, clamped, subject, "
            "toUnixTimestamp(not_after) FROM certificates FINAL")}
        by_name = {n: rows[hashlib.sha256(der).hexdigest()] for n, der in world.certs.items()}
        for curve in ("prime239v1", "prime192v2", "sm2"):
            key_type, _, problems, *_ = by_name[f"ec-{curve}"]
            assert key_type == f"ec-{curve}"
            assert len(problems) == 1 and "public key: UnsupportedAlgorithm" in problems[0]
        assert by_name["unknown-algorithm"][0] == f"oid-{oddcerts.UNKNOWN_ALGORITHM}"
        assert "Unknown key type" in by_name["unknown-algorithm"][2][0]
        assert by_name["rsa-70000"][:2] == ("rsa", 70_000)
        _, _, problems, clamped, subject, not_after = by_name["quirky"]
        assert problems == ["non-positive-serial"] and subject == "CN=mx.quirky.test"
        assert clamped == ["not_before=1950-01-01T00:00:00+00:00",
                           "not_after=9999-12-31T23:59:59+00:00"]
        assert not_after == 2**32 - 1
        assert by_name["duplicate-san"][2][0].startswith("extensions: DuplicateExtension")
        assert by_name["unloadable"][2][0].startswith("certificate: ValueError")
        assert by_name["explicit"][2] == []

        probes = {row[0]: row[1:] for row in db.query(
            "SELECT mx_host, status, chain_truncated, length(chain) FROM starttls_probes FINAL "
            "WHERE scan_id = 'hostile'")}
        assert probes["mx.unloadable.test"][0] == "cert-unparsable"
        assert probes["mx.long.test"][1:] == (1, 64)
        assert probes["mx.oddchain.test"] == ("ok", 0, 6)
        assert probes["mx.oddkeys.test"] == ("ok", 0, 5)

        refused = db.query("SELECT bad_mx, bad_mx_reasons, mx FROM domains FINAL "
                           "WHERE scan_id = 'hostile' AND domain = 'refused.test'")
        assert refused[0][0] == ["a\\032b.refused.test"]
        assert "characters other than" in refused[0][1][0]
        assert refused[0][2] == ["mx.oddchain.test"]

        queries = db.query("SELECT status, attempts, toUnixTimestamp(queried_at), duration_ms "
                           "FROM dns_rrsets FINAL WHERE scan_id = 'hostile'")
        assert queries and all(a >= 1 and at > 0 and ms > 0 for _, a, at, ms in queries)
        assert any(status == "SERVFAIL" for status, *_ in queries)  # a failed one, with its tries

        before = counts(db, "hostile")
    finally:
        db.close()

    again = danescan_scan(world, db_target, "hostile")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Warning" not in again.stderr
    db = connect(db_target)
    try:
        assert counts(db, "hostile") == before
    finally:
        db.close()


def s_client_verifies(host: Host, mx: str) -> str:
    """OpenSSL's DANE verdict on the host's chain with its TLSA record: its 'Verification' line."""
    proc = subprocess.run(
        ["openssl", "s_client", "-starttls", "smtp", "-connect", f"{host.ip}:25",
         "-servername", mx, "-dane_tlsa_domain", mx, "-dane_tlsa_rrdata", host.tlsa,
         "-dane_ee_no_namechecks"],  # RFC 7672 3.1.1, as Postfix sets it
        input="", capture_output=True, text=True, timeout=60, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("Verification")]
    return lines[0] if lines else proc.stdout[-500:] + proc.stderr[-500:]


@pytest.mark.oracle
def test_openssl_agrees_on_the_leaves_cryptography_cannot_read(world: World) -> None:
    if shutil.which("openssl") is None:
        pytest.fail("openssl is not installed: run scripts/install-system-packages.sh")
    for name in world.hosts:
        assert s_client_verifies(world.hosts[name], f"mx.{name}.test") == "Verification: OK", name
