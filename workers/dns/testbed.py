"""A small DNSSEC-signed hierarchy on loopback (NSD + validating unbound) for the DNS probe's
integration tests and benchmark, when the project's lab is not at hand. Each scenario is one SLD
under ``test.`` with the status and reason a validator must give its MX RRset.

Only loopback addresses: ``127.88.<n>.1`` (NSD, every zone) and ``127.88.<n>.53`` (unbound).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass

import dns.dnssec
import dns.dnssectypes
import dns.name
import dns.rdatatype
import dns.rrset
import dns.zone
from cryptography.hazmat.primitives.asymmetric import ec

from workers.vocab import DnssecReason, DnssecStatus

ALG = dns.dnssectypes.Algorithm.ECDSAP256SHA256
DAY = 86400


@dataclass(frozen=True)
class Expect:
    domain: str
    status: DnssecStatus
    reason: DnssecReason
    mx: tuple[str, ...]


@dataclass
class Testbed:
    __test__ = False  # not a pytest class

    directory: str
    auth: str
    resolver: str  # "address:port"
    anchor_file: str
    expected: list[Expect]
    pids: list[int]
    bulk: list[str]  # the names of the bulk (benchmark) domains

    def stop(self) -> None:
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        self.pids.clear()


def _key() -> tuple[ec.EllipticCurvePrivateKey, dns.rdata.Rdata]:
    key = ec.generate_private_key(ec.SECP256R1())
    return key, dns.dnssec.make_dnskey(key.public_key(), ALG, flags=257)


def _sign(text: str, origin: str, key: tuple[ec.EllipticCurvePrivateKey, dns.rdata.Rdata] | None,
          now: int, inception: int | None = None, expiration: int | None = None) -> str:
    zone = dns.zone.from_text(text, origin=origin, relativize=False, check_origin=False)
    if key is not None:
        dns.dnssec.sign_zone(zone, keys=[key],  # type: ignore[list-item]
                             inception=inception if inception is not None else now - DAY,
                             expiration=expiration if expiration is not None else now + 30 * DAY)
    return str(zone.to_text(relativize=False))


SOA = "@ 3600 IN SOA ns.test. admin.test. 1 3600 600 86400 300\n"


def build(directory: str, net: int, now: int, bulk: int = 0,
          more_domains: dict[str, tuple[str, bool]] | None = None) -> Testbed:
    """Write, sign and start the hierarchy. ``bulk``: extra signed domains (for benchmarks),
    each with its own MX host carrying A and TLSA. ``more_domains``: more domains, SLD label -> (zone
    body with ``$ORIGIN`` the domain, signed with a DS or not signed), not in ``expected``."""
    auth, res = f"127.88.{net}.1", f"127.88.{net}.53"
    os.makedirs(f"{directory}/zones", exist_ok=True)
    zones: dict[str, str] = {}
    root_key, test_key = _key(), _key()
    tlsa = "3 1 1 " + "ab" * 32
    sld: dict[str, tuple[str, str, bool, Expect]] = {}

    def add(name: str, body: str, signed: bool, ds: bool, status: DnssecStatus,
            reason: DnssecReason, mx: tuple[str, ...], **sign_args: int) -> None:
        key = _key() if signed else None
        origin = f"{name}.test."
        text = f"$ORIGIN {origin}\n" + SOA + f"@ 3600 IN NS ns.test.\n{body}"
        zones[origin] = _sign(text, origin, key, now, **sign_args)
        ds_text = ""
        if ds and key is not None:
            ds_text = f"{name} 3600 IN DS {dns.dnssec.make_ds(origin, key[1], 'SHA256').to_text()}\n"
        sld[name] = (ds_text, origin, signed, Expect(origin, status, reason, mx))

    S, N, B = DnssecStatus.SECURE, DnssecStatus.INSECURE, DnssecStatus.BOGUS
    R = DnssecReason
    add("good", f"@ IN MX 10 mx\nmx IN A 127.25.88.1\n_25._tcp.mx IN TLSA {tlsa}\n",
        True, True, S, R.NONE, ("mx.good.test.",))
    add("nods", "@ IN MX 10 mx\nmx IN A 127.25.88.2\n", True, False, N, R.MISSING_DS,
        ("mx.nods.test.",))
    add("unsigned", "@ IN MX 10 mx\nmx IN A 127.25.88.3\nsub 3600 IN NS ns.test.\n", False, False,
        N, R.UNSIGNED, ("mx.unsigned.test.",))
    # a signed zone under the unsigned one: no DS can make it secure (a really insecure parent)
    sub = "sub.unsigned.test."
    zones[sub] = _sign(f"$ORIGIN {sub}\n" + SOA + "@ 3600 IN NS ns.test.\n@ IN MX 10 mx\n"
                       "mx IN A 127.25.88.9\n", sub, _key(), now)
    extra = [Expect(sub, N, R.INSECURE_DELEGATION, ("mx.sub.unsigned.test.",))]
    add("expired", "@ IN MX 10 mx\nmx IN A 127.25.88.4\n", True, True, B, R.SIGNATURE_EXPIRED,
        ("mx.expired.test.",), inception=now - 10 * DAY, expiration=now - DAY)
    add("future", "@ IN MX 10 mx\nmx IN A 127.25.88.5\n", True, True, B,
        R.SIGNATURE_NOT_YET_VALID, ("mx.future.test.",), inception=now + DAY,
        expiration=now + 10 * DAY)
    add("nullmx", "@ IN MX 0 .\n", True, True, S, R.NONE, ())
    add("nomx", "@ IN A 127.25.88.6\n", True, True, S, R.NONE, ("nomx.test.",))
    add("cname", "@ IN MX 10 mail\nmail IN CNAME mx.good.test.\n", True, True, S, R.NONE,
        ("mail.cname.test.",))
    add("badsig", "@ IN MX 10 mx\nmx IN A 127.25.88.7\n", True, True, B, R.SIGNATURE_INVALID,
        ("mx.badsig.test.",))
    # tamper after signing: the MX RRSIG no longer matches
    zones["badsig.test."] = zones["badsig.test."].replace(
        "MX 10 mx.badsig.test.", "MX 20 mx.badsig.test.")
    add("dsbad", "@ IN MX 10 mx\nmx IN A 127.25.88.8\n", True, True, B, R.DS_MISMATCH,
        ("mx.dsbad.test.",))
    other = _key()
    sld["dsbad"] = (f"dsbad 3600 IN DS {dns.dnssec.make_ds('dsbad.test.', other[1], 'SHA256').to_text()}\n",
                    *sld["dsbad"][1:])
    bulk_names = []
    for i in range(bulk):
        name = f"b{i}"
        bulk_names.append(f"{name}.test.")
        add(name, f"@ IN MX 10 mx\nmx IN A 127.25.{88 + i // 60000 % 100}.{i % 250 + 1}\n"
            f"_25._tcp.mx IN TLSA {tlsa}\n", True, True, S, R.NONE, (f"mx.{name}.test.",))

    extra_names = {f"{name}.test." for name in more_domains or {}}
    for name, (body, signed) in (more_domains or {}).items():
        add(name, body, signed, signed, S if signed else N, R.NONE if signed else R.UNSIGNED, ())
    test_text = "$ORIGIN test.\n" + SOA + f"@ 3600 IN NS ns.test.\nns IN A {auth}\n"
    for name, (ds_text, _origin, _signed, _e) in sld.items():
        test_text += f"{name} 3600 IN NS ns.test.\n{ds_text}"
    zones["test."] = _sign(test_text, "test.", test_key, now)
    test_ds = dns.dnssec.make_ds("test.", test_key[1], 'SHA256').to_text()
    root_text = ("$ORIGIN .\n. 3600 IN SOA ns.root. admin.root. 1 3600 600 86400 300\n"
                 f". 3600 IN NS ns.root.\nns.root. IN A {auth}\n"
                 f"test. 3600 IN NS ns.test.\nns.test. IN A {auth}\ntest. 3600 IN DS {test_ds}\n")
    zones["."] = _sign(root_text, ".", root_key, now)
    anchor = f"{directory}/trust-anchor.txt"
    with open(anchor, "w") as fh:
        fh.write(f". IN DS {dns.dnssec.make_ds('.', root_key[1], 'SHA256').to_text()}\n")

    nsd_conf = [f"server:\n  ip-address: {auth}\n  port: 53\n  username: \"\"\n  chroot: \"\"\n"
                f"  zonesdir: \"{directory}/zones\"\n  pidfile: \"{directory}/nsd.pid\"\n"
                f"  xfrdfile: \"{directory}/xfrd.state\"\n  zonelistfile: \"{directory}/zone.list\"\n"
                f"  database: \"\"\n  server-count: 1\n  verbosity: 0\n  logfile: \"{directory}/nsd.log\"\n"
                "remote-control:\n  control-enable: no\n"]
    for origin, text in zones.items():
        fname = "root" if origin == "." else origin.rstrip(".")
        with open(f"{directory}/zones/{fname}.zone", "w") as fh:
            fh.write(text)
        nsd_conf.append(f"zone:\n  name: \"{origin}\"\n  zonefile: \"{fname}.zone\"\n")
    with open(f"{directory}/nsd.conf", "w") as fh:
        fh.write("".join(nsd_conf))
    with open(f"{directory}/root.hints", "w") as fh:
        fh.write(f". 3600000 NS ns.root.\nns.root. 3600000 A {auth}\n")
    with open(f"{directory}/unbound.conf", "w") as fh:
        fh.write(f"""server:
  interface: {res}
  port: 53
  do-ip6: no
  username: ""
  chroot: ""
  directory: "{directory}"
  pidfile: "{directory}/unbound.pid"
  logfile: "{directory}/unbound.log"
  use-syslog: no
  verbosity: 1
  val-log-level: 2
  do-not-query-localhost: no
  access-control: 127.0.0.0/8 allow
  root-hints: "{directory}/root.hints"
  trust-anchor-file: "{anchor}"
  module-config: "validator iterator"
  num-threads: 1
  msg-cache-size: 64m
  rrset-cache-size: 128m
  outgoing-range: 4096
  num-queries-per-thread: 4096
  so-rcvbuf: 8m
  so-sndbuf: 8m
  harden-dnssec-stripped: yes
  minimal-responses: yes
  qname-minimisation: no
  local-zone: "test." nodefault
remote-control:
  control-enable: no
""")
    nsd = subprocess.Popen(["nsd", "-d", "-c", f"{directory}/nsd.conf"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    unbound = subprocess.Popen(["unbound", "-d", "-c", f"{directory}/unbound.conf"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bulk_set = set(bulk_names) | extra_names
    bed = Testbed(directory, auth, f"{res}:53", anchor,
                  [e for *_, e in sld.values() if e.domain not in bulk_set] + extra,
                  [nsd.pid, unbound.pid], bulk_names)
    _wait_ready(bed, nsd, unbound)
    return bed


def _wait_ready(bed: Testbed, *procs: subprocess.Popen[bytes]) -> None:

    import dns.message
    import dns.query

    deadline = time.monotonic() + 20
    q = dns.message.make_query("good.test.", "SOA")
    addr = bed.resolver.rsplit(":", 1)[0]
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                bed.stop()
                raise RuntimeError(f"{p.args!r} exited with {p.returncode}; see {bed.directory}")
        try:
            r = dns.query.udp(q, addr, timeout=0.5)
            if r.answer:
                return
        except (dns.exception.Timeout, OSError):
            pass
        time.sleep(0.1)
    bed.stop()
    raise RuntimeError(f"testbed not ready; see {bed.directory}")
