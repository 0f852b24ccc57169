"""Zones for key-rollover scenarios, served by Knot (lab/knot.py) and changed by dynamic update.

Each zone ``dynrollN.`` is delegated from the lab's root with a DS (written into the root zone
when the lab is built), so the lab's validating unbound validates it like any other zone. It has
one MX host ``mx.dynrollN.`` whose mail server (a ``lab.smtpd`` of its own, on the zone's mail
address) presents the certificate of key generation 0 at first and can be switched to any later
generation with :func:`switch` (the config is rewritten and the server reloaded with SIGHUP). The
TLSA RRset starts as ``3 1 1`` of generation 0. TTLs are short (:data:`TTL` seconds for every
record but the SOA, and the negative TTL) so that a rollover done by the TTLs takes seconds, in real
time, through the real resolver cache; the lab's ``advance`` does not touch these zones.

Delegated from the root rather than a TLD: the TLD zone files are the scan's input, and these
zones are not part of the scenarios' truth.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from lab import knot, pki
from lab import plan as pl
from lab.paths import LabPaths
from lab.servers import LabError
from lab.signer import Record, SigningKey

ZONES = ("dynroll1.", "dynroll2.", "dynroll3.")
TTL = 4  # seconds: every record's TTL and the SOA MINIMUM
SOA_TTL = 6  # the SOA's own TTL: the negative TTL is min(SOA_TTL, TTL) = TTL (RFC 2308)
GENERATIONS = 4  # certificates (key generations) made per zone: 0 live, the others to roll to
TSIG_NAME = "rollover.lab"


def knot_ip(net: pl.Net) -> str:
    return f"127.{net.dns}.9.1"


def mail_ip(net: pl.Net, index: int) -> str:
    return f"127.{net.dns}.9.{25 + index}"


def addresses(net: pl.Net) -> tuple[str, ...]:
    """Every address the dynamic zones' servers use (DNS on the first, mail on the others)."""
    return (knot_ip(net), *(mail_ip(net, i) for i in range(len(ZONES))))


def mx_of(zone: str) -> str:
    return f"mx.{zone}"


def signing_key(seed: int, zone: str) -> SigningKey:
    return SigningKey.from_private(pki.derive_key(seed, f"dnssec-dyn:{zone}"))


def tsig(seed: int) -> knot.Tsig:
    import base64
    import hashlib

    secret = base64.b64encode(hashlib.sha256(f"{seed}:tsig:{TSIG_NAME}".encode()).digest())
    return knot.Tsig(TSIG_NAME, "hmac-sha256", secret.decode())


def certificate(seed: int, zone: str, gen: int) -> pki.Issued:
    return pki.make_leaf(seed, f"dyn:{zone}#{gen}", (mx_of(zone).rstrip("."),), None)


def root_records(net: pl.Net, seed: int) -> list[Record]:
    """The delegations (NS, glue, DS) of the dynamic zones, for the root zone."""
    recs: list[Record] = []
    for zone in ZONES:
        ns = f"ns.{zone}"
        recs += [(zone, 86400, "NS", ns), (ns, 86400, "A", knot_ip(net)),
                 (zone, 86400, "DS", signing_key(seed, zone).ds(zone))]
    return recs


def zone_text(net: pl.Net, seed: int, index: int) -> str:
    zone = ZONES[index]
    mx = mx_of(zone)
    leaf = certificate(seed, zone, 0)
    digest = _spki_sha256(leaf)
    lines = [f"{zone} {SOA_TTL} IN SOA ns.{zone} hostmaster.{zone} 1 3600 600 86400 {TTL}",
             f"{zone} {TTL} IN NS ns.{zone}", f"ns.{zone} {TTL} IN A {knot_ip(net)}",
             f"{zone} {TTL} IN MX 10 {mx}", f"{mx} {TTL} IN A {mail_ip(net, index)}",
             f"_25._tcp.{mx} {TTL} IN TLSA 3 1 1 {digest}"]
    return "\n".join(lines) + "\n"


def _spki_sha256(leaf: pki.Issued) -> str:
    import hashlib

    return hashlib.sha256(leaf.spki_der).hexdigest()


@dataclass(frozen=True)
class DynPaths:
    root: Path

    @property
    def dir(self) -> Path:
        return self.root / "dyn"

    @property
    def knot(self) -> Path:
        return self.dir / "knot"

    @property
    def pki(self) -> Path:
        return self.dir / "pki"

    @property
    def smtpd_config(self) -> Path:
        return self.dir / "smtpd.json"

    @property
    def smtpd_pid(self) -> Path:
        return self.dir / "smtpd.pid"

    @property
    def tsig_key(self) -> Path:
        return self.dir / "tsig.key"

    @property
    def facts(self) -> Path:
        return self.dir / "dyn.json"

    def cert_files(self, zone: str, gen: int) -> dict[str, str]:
        stem = self.pki / f"{zone.rstrip('.')}-{gen}"
        return {"chain": f"{stem}.chain.pem", "key": f"{stem}.key.pem"}


def _write_pki(dp: DynPaths, seed: int) -> None:
    dp.pki.mkdir(parents=True, exist_ok=True)
    for zone in ZONES:
        for gen in range(GENERATIONS):
            leaf = certificate(seed, zone, gen)
            files = dp.cert_files(zone, gen)
            Path(files["chain"]).write_bytes(leaf.pem)
            Path(files["key"]).write_bytes(leaf.key_pem())
            Path(files["key"]).chmod(0o600)


def _write_smtpd(dp: DynPaths, net: pl.Net, live: dict[str, int]) -> None:
    listeners = [{"ip": mail_ip(net, i), "port": 25, "behaviour": "ok",
                  "hostname": mx_of(zone).rstrip("."),
                  "certs": {"*": dp.cert_files(zone, live.get(zone, 0))}}
                 for i, zone in enumerate(ZONES)]
    tmp = dp.smtpd_config.with_suffix(".tmp")
    tmp.write_text(json.dumps({"listeners": listeners, "live": live}))
    tmp.replace(dp.smtpd_config)


def start(paths: LabPaths, net: pl.Net, seed: int) -> tuple[int, int]:
    """Start Knot with the dynamic zones and their mail server; (knot pid, smtpd pid)."""
    dp = DynPaths(paths.root)
    dp.dir.mkdir(parents=True, exist_ok=True)
    key = tsig(seed)
    dp.tsig_key.write_text(key.bind_text())
    dp.tsig_key.chmod(0o600)
    zones = [knot.KnotZone(zone, zone_text(net, seed, i), signing_key(seed, zone).key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())) for i, zone in enumerate(ZONES)]
    knot_pid = knot.start(dp.knot, knot_ip(net), zones, key)
    _write_pki(dp, seed)
    _write_smtpd(dp, net, {})
    log = dp.dir / "smtpd.log"
    dp.smtpd_pid.unlink(missing_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "lab.smtpd", "--config",
                                 str(dp.smtpd_config), "--pidfile", str(dp.smtpd_pid)],
                                stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    deadline = time.monotonic() + 30
    while not dp.smtpd_pid.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise LabError(f"the dynamic zones' mail server did not start; see {log}")
        time.sleep(0.05)
    dp.facts.write_text(json.dumps(facts(paths, net), indent=2))
    return knot_pid, proc.pid


def facts(paths: LabPaths, net: pl.Net) -> dict[str, Any]:
    """What a test or an operator needs: the primary, the TSIG key file, each zone's MX host,
    mail address and certificate files per generation."""
    dp = DynPaths(paths.root)
    return {"primary": knot_ip(net), "tsig_key": str(dp.tsig_key), "ttl": TTL,
            "zones": {zone: {"mx": mx_of(zone).rstrip("."), "ip": mail_ip(net, i),
                             "certs": [dp.cert_files(zone, g) for g in range(GENERATIONS)]}
                      for i, zone in enumerate(ZONES)}}


def switch(lab_dir: Path, zone: str, gen: int, pid: int, timeout: float = 10.0) -> None:
    """Make ``zone``'s mail server present generation ``gen`` from now on (SIGHUP reload); returns
    once the server's log says the reload is done."""
    if zone not in ZONES or not 0 <= gen < GENERATIONS:
        raise LabError(f"no dynamic zone {zone!r} with certificate generation {gen}")
    dp = DynPaths(lab_dir)
    live = json.loads(dp.smtpd_config.read_text()).get("live", {})
    live[zone] = gen
    net_ip = json.loads(dp.facts.read_text())["zones"][zone]["ip"]
    net = pl.Net(int(net_ip.split(".")[1]) - 53)
    log = dp.dir / "smtpd.log"
    before = log.read_text(errors="replace").count("reloaded") if log.exists() else 0
    _write_smtpd(dp, net, live)
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + timeout
    while log.read_text(errors="replace").count("reloaded") <= before:
        if time.monotonic() > deadline:
            raise LabError(f"the dynamic zones' mail server did not reload; see {log}")
        time.sleep(0.05)
