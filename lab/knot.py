"""Knot DNS in the lab: an authoritative server that signs its zones itself (``dnssec-signing:
on``) and takes RFC 2136 dynamic updates signed with a TSIG key (NSD takes none).

Its signing keys are the lab's own, derived from the seed and imported with ``keymgr import-pem``
before it starts, so the DS records in the parent zone are known when the parent is signed (at
lab build time), as for every other lab zone. Knot re-signs what an update changes at once
("incrementally signed"); each RRSIG's original TTL is the record's TTL.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import dns.flags
import dns.rcode
import dns.rdatatype

from lab import servers as srv
from lab.servers import LabError


@dataclass(frozen=True)
class KnotZone:
    name: str  # absolute
    text: str  # zone file, unsigned
    key_pem: bytes  # the ECDSA P-256 signing key (CSK), PKCS#8 PEM


@dataclass(frozen=True)
class Tsig:
    name: str
    algorithm: str
    secret: str  # base64

    def bind_text(self) -> str:
        return (f'key "{self.name}" {{\n\talgorithm {self.algorithm};\n'
                f'\tsecret "{self.secret}";\n}};\n')


def conf_text(d: Path, ip: str, zones: list[str], tsig: Tsig) -> str:
    lines = [
        "server:", f"    rundir: \"{d}\"", f"    pidfile: \"{d / 'knot.pid'}\"",
        f"    listen: {ip}@53", "    udp-workers: 1", "    tcp-workers: 1",
        "    background-workers: 1",
        "log:", f"  - target: \"{d / 'knot.log'}\"", "    any: info",
        "database:", f"    storage: \"{d / 'db'}\"",
        "key:", f"  - id: {tsig.name}", f"    algorithm: {tsig.algorithm}",
        f"    secret: {tsig.secret}",
        "acl:", "  - id: update", f"    key: {tsig.name}", "    action: update",
        "policy:", "  - id: lab", "    algorithm: ecdsap256sha256", "    manual: on",
        "    single-type-signing: on",
        "template:", "  - id: default", f"    storage: \"{d / 'zones'}\"", "    file: \"%s.zone\"",
        "    dnssec-signing: on", "    dnssec-policy: lab", "    acl: update",
        "    zonefile-sync: -1", "    journal-content: changes", "    semantic-checks: off",
        "zone:",
    ]
    lines += [f"  - domain: {z}" for z in zones]
    return "\n".join(lines) + "\n"


def start(d: Path, ip: str, zones: list[KnotZone], tsig: Tsig) -> int:
    """Write the configuration, zones and keys under ``d`` (emptied first), start knotd and wait
    until it serves the last zone signed. Returns its PID."""
    shutil.rmtree(d, ignore_errors=True)
    (d / "zones").mkdir(parents=True)
    (d / "keys").mkdir()
    (d / "db").mkdir()
    conf = d / "knot.conf"
    conf.write_text(conf_text(d, ip, [z.name for z in zones], tsig))
    for z in zones:
        (d / "zones" / f"{z.name}zone").write_text(z.text)
        pem = d / "keys" / f"{z.name}pem"
        pem.write_bytes(z.key_pem)
        pem.chmod(0o600)
        out = subprocess.run(
            [srv._tool("keymgr"), "-c", str(conf), z.name, "import-pem", str(pem), "algorithm=13",
             "size=256", "ksk=yes", "zsk=yes", "created=-1d", "publish=-1d", "ready=-1d",
             "active=-1d"], capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise LabError(f"keymgr import-pem for {z.name} failed: "
                           f"{(out.stderr or out.stdout).strip()[:200]}")
    out = subprocess.run([srv._tool("knotd"), "-c", str(conf), "-d"], capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        raise LabError(f"knotd failed to start: {(out.stderr or out.stdout).strip()[:300]}")
    last = zones[-1].name

    def ready() -> bool:
        r = srv.query(ip, last, "SOA", timeout=0.5)
        return (r is not None and r.rcode() == dns.rcode.NOERROR and bool(r.flags & dns.flags.AA)
                and any(rr.rdtype == dns.rdatatype.RRSIG for rr in r.answer))

    srv._wait(ready, 30, "knotd (signed SOA of the last zone)", d / "knot.log")
    pid = srv._pid(d / "knot.pid")
    if pid is None:
        raise LabError(f"knotd started but left no pid file; see {d / 'knot.log'}")
    return pid
