"""DNS failures of the internet-shaped lab, with real processes on loopback (127.61.x.y).

PowerDNS (gsqlite3) serves a few thousand unsigned zones and answers REFUSED for a zone it does not
hold and SERVFAIL for a zone whose data it cannot read; lab.dnsfault drops queries (lame
delegation), relays them late (slow server) or answers SERVFAIL; unbound resolves through them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from lab import dnsfault, pdns
from lab import servers as srv
from lab.signer import Record

pytestmark = [pytest.mark.lab, pytest.mark.slow]

N_ZONES = 3000
SLOW_MIN, SLOW_MAX = 0.5, 0.8


def _zone(i: int, name: str = "") -> tuple[str, list[Record]]:
    z = name or f"f{i:05d}.lab."
    return z, [(z, 300, "SOA", f"ns1.pdnshost.net. hostmaster.{z} 1 7200 3600 1209600 300"),
               (z, 300, "NS", "ns1.pdnshost.net."), (z, 300, "NS", "ns2.pdnshost.net."),
               (z, 300, "MX", f"10 mx{i}.mailhost.net."), (f"www.{z}", 300, "A", "192.0.2.7"),
               (z, 300, "TXT", '"v=spf1 -all"')]


@dataclass
class Faults:
    pdns: str
    drop: str
    slow: str
    servfail: str
    resolver: str
    root: Path


def _free_net() -> str:
    """A 127.61.x prefix whose addresses are free (test runs side by side take different ones)."""
    for x in range(1, 255):
        prefix = f"127.61.{x}"
        try:
            srv.check_free([(f"{prefix}.{h}", 53, k) for h in (1, 2, 3, 4, 53)
                            for k in (socket.SOCK_DGRAM, socket.SOCK_STREAM)])
        except srv.LabError:
            continue
        return prefix
    pytest.fail("no free 127.61.x.0/24 for the fault lab")


def _unbound_conf(d: Path, f: Faults, extra: list[str]) -> Path:
    stubs = {"lame.lab": f.drop, "f00002.lab": f.slow, "f00001.lab": f.pdns,
             "broken.lab": f.pdns, "sf.lab": f.servfail}
    lines = ["server:", f"  interface: {f.resolver}", "  port: 53", "  do-ip6: no",
             "  do-not-query-localhost: no", '  username: ""', '  chroot: ""',
             f'  directory: "{d}"', f'  pidfile: "{d / "unbound.pid"}"',
             f'  logfile: "{d / "unbound.log"}"', "  use-syslog: no", "  verbosity: 1",
             "  access-control: 127.0.0.0/8 allow", '  module-config: "iterator"',
             "  num-threads: 1", "  so-reuseport: no", "  qname-minimisation: no",
             *(f"  {e}" for e in extra)]
    for name, ip in stubs.items():
        lines += ["stub-zone:", f"  name: {name}", f"  stub-addr: {ip}"]
    lines += ["remote-control:", "  control-enable: no", ""]
    conf = d / "unbound.conf"
    conf.write_text("\n".join(lines))
    return conf


# Debian's unbound 1.17.1 carries the CVE-2024-33655 backport: a client's query still unanswered
# after discard-timeout (1900 ms) gets no reply at all, so anything slower than that (slow or lame
# servers) times out at the client instead of giving an answer or SERVFAIL.
UNBOUND_FAULT_SETTINGS = ["discard-timeout: 0"]


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Faults]:
    if os.geteuid() != 0 or shutil.which("unbound") is None or not Path(pdns.PDNS_SERVER).exists():
        pytest.fail("needs root, unbound and pdns-server + pdns-backend-sqlite3 "
                    "(scripts/install-system-packages.sh)")
    root = tmp_path_factory.mktemp("faults")
    p = _free_net()
    f = Faults(f"{p}.1", f"{p}.2", f"{p}.3", f"{p}.4", f"{p}.53", root)
    db = root / "zones.db"
    assert pdns.write_db(db, (*(_zone(i) for i in range(1, N_ZONES + 1)),
                              _zone(0, "broken.lab."))) == N_ZONES + 1
    assert pdns.break_zones(db, ["broken.lab."]) == 1
    pids: list[int] = []
    try:
        pids.append(pdns.start(root / "pdns", [f.pdns], db, f"f{N_ZONES:05d}.lab."))
        cfg = dnsfault.write_config(root / "fault.json", drop=[f.drop], servfail=[f.servfail],
                                    slow=[{"ip": f.slow, "upstream": f.pdns, "min": SLOW_MIN,
                                           "max": SLOW_MAX}])
        fault_pid = dnsfault.start(cfg, root / "fault.pid", root / "fault.log")
        pids.append(fault_pid)
        ub = root / "unbound"
        ub.mkdir()
        conf = _unbound_conf(ub, f, UNBOUND_FAULT_SETTINGS)
        subprocess.run(["unbound", "-c", str(conf)], check=True, capture_output=True)
        srv._wait(lambda: (ub / "unbound.pid").exists(), 10, "unbound", ub / "unbound.log")
        pids.append(int((ub / "unbound.pid").read_text().split()[0]))
        yield f
        # SIGTERM: the fault process exits cleanly and removes its pid file
        assert srv.stop([fault_pid]) == []
        assert not (root / "fault.pid").exists()
    finally:
        srv.stop(pids)


def _ask(server: str, name: str, rtype: str = "MX", timeout: float = 5.0,
         tcp: bool = False) -> tuple[dns.message.Message, float]:
    q = dns.message.make_query(name, rtype)
    t0 = time.monotonic()
    r = (dns.query.tcp if tcp else dns.query.udp)(q, server, timeout=timeout)
    return r, time.monotonic() - t0


def _mx(r: dns.message.Message) -> list[str]:
    return sorted(rd.to_text() for rrset in r.answer for rd in rrset)


def test_pdns_answers_its_zones_and_refuses_others(faults: Faults) -> None:
    r, _ = _ask(faults.pdns, "f01234.lab.")
    assert r.rcode() == dns.rcode.NOERROR
    assert r.flags & dns.flags.AA
    assert _mx(r) == ["10 mx1234.mailhost.net."]
    r, _ = _ask(faults.pdns, "f00007.lab.", "TXT")
    assert _mx(r) == ['"v=spf1 -all"']
    r, _ = _ask(faults.pdns, "www.f00007.lab.", "A")
    assert _mx(r) == ["192.0.2.7"]
    r, _ = _ask(faults.pdns, "nowhere.example.", "MX")
    assert r.rcode() == dns.rcode.REFUSED
    r, _ = _ask(faults.pdns, "nothing.f00007.lab.", "A")
    assert r.rcode() == dns.rcode.NXDOMAIN


def test_pdns_answers_servfail_for_a_zone_it_cannot_read(faults: Faults) -> None:
    for rtype in ("SOA", "MX"):
        r, _ = _ask(faults.pdns, "broken.lab.", rtype)
        assert r.rcode() == dns.rcode.SERVFAIL
    r, _ = _ask(faults.pdns, "f00009.lab.")  # the others are unharmed
    assert _mx(r) == ["10 mx9.mailhost.net."]


def test_drop_address_never_answers(faults: Faults) -> None:
    with pytest.raises(dns.exception.Timeout):
        _ask(faults.drop, "f00001.lab.", timeout=1)
    # TCP: the connection is accepted (no RST, no ICMP) and then nothing comes back
    with pytest.raises(dns.exception.Timeout):
        _ask(faults.drop, "f00001.lab.", timeout=1, tcp=True)


def test_slow_address_answers_late_but_right(faults: Faults) -> None:
    for i in (11, 12, 13):
        r, took = _ask(faults.slow, f"f{i:05d}.lab.")
        assert _mx(r) == [f"10 mx{i}.mailhost.net."]
        assert SLOW_MIN - 0.01 <= took <= SLOW_MAX + 0.3, took
    r, took = _ask(faults.slow, "f00014.lab.", tcp=True)
    assert _mx(r) == ["10 mx14.mailhost.net."]
    assert SLOW_MIN - 0.01 <= took <= SLOW_MAX + 0.3, took


def test_slow_address_keeps_many_queries_in_flight(faults: Faults) -> None:
    qs = [dns.message.make_query(f"f{i:05d}.lab.", "MX") for i in range(100, 300)]
    for i, q in enumerate(qs):  # distinct ids: 200 random ones collide one run in four
        q.id = 1000 + i
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        t0 = time.monotonic()
        for q in qs:
            s.sendto(q.to_wire(), (faults.slow, 53))
        got = set()
        with contextlib.suppress(TimeoutError):
            while len(got) < len(qs):
                got.add(dns.message.from_wire(s.recv(65535)).id)
        took = time.monotonic() - t0
    assert got == {q.id for q in qs}
    assert took < SLOW_MAX + 1.0  # concurrent, not one after the other


def test_servfail_address(faults: Faults) -> None:
    r, _ = _ask(faults.servfail, "f00001.lab.")
    assert r.rcode() == dns.rcode.SERVFAIL
    assert r.question[0].name.to_text() == "f00001.lab."
    r, _ = _ask(faults.servfail, "f00001.lab.", tcp=True)
    assert r.rcode() == dns.rcode.SERVFAIL


def test_unbound_through_the_faults(faults: Faults) -> None:
    r, _ = _ask(faults.resolver, "f00001.lab.")
    assert _mx(r) == ["10 mx1.mailhost.net."]
    # a slow server: unbound retries with backoff but gets the answer
    r, took = _ask(faults.resolver, "f00002.lab.", timeout=30)
    assert r.rcode() == dns.rcode.NOERROR and _mx(r) == ["10 mx2.mailhost.net."], took
    for name in ("broken.lab.", "sf.lab."):
        r, _ = _ask(faults.resolver, name)
        assert r.rcode() == dns.rcode.SERVFAIL, name


def test_unbound_servfails_an_all_lame_delegation(faults: Faults) -> None:
    """With default timeouts (and discard-timeout 0) unbound gives up on a delegation whose only
    server drops queries after about 17 s (measured 17.3 s; a second name in it 12 s, then at
    once while the server is marked down). infra-cache-max-rtt: 1000 made it 2.3 s."""
    r, took = _ask(faults.resolver, "lame.lab.", timeout=60)
    print(f"all-lame delegation: SERVFAIL after {took:.1f} s")
    assert r.rcode() == dns.rcode.SERVFAIL
    assert 5 < took < 40, took
