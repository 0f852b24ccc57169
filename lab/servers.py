"""Start, reload, check and stop the lab's servers: NSD, unbound and the lab's mail servers."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from lab import plan as pl
from lab.paths import LabPaths

APT_HINT = "(or: sudo scripts/install-system-packages.sh)"
# tool -> the Debian package that has it; the signers sign the TLD zones (lab.extsign)
TOOLS = {"nsd": "nsd", "unbound": "unbound", "dnssec-signzone": "bind9-utils",
         "ldns-signzone": "ldnsutils", "knotd": "knot", "keymgr": "knot"}


class LabError(Exception):
    """A one-line, user-facing reason why the lab cannot do what was asked."""


def missing_tools() -> list[str]:
    """The lab's programs that are not installed (a fresh machine: all of them)."""
    return [t for t in TOOLS if shutil.which(t) is None and not Path(f"/usr/sbin/{t}").exists()]


def require_tools() -> None:
    missing = missing_tools()
    if missing:
        packages = " ".join(dict.fromkeys(TOOLS[t] for t in missing))
        raise LabError(f"missing tools: {', '.join(missing)}; install with: apt-get install -y "
                       f"{packages}  {APT_HINT}")
    if os.geteuid() != 0:
        raise LabError("the lab binds port 53 and 25 on loopback addresses and needs root")


def _tool(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def check_free(addresses: Iterable[tuple[str, int, int]]) -> None:
    """Fail, before anything starts, when an address the lab needs is taken."""
    for ip, port, kind in addresses:
        s = socket.socket(socket.AF_INET, kind)
        if kind == socket.SOCK_STREAM:
            # connections in TIME_WAIT from an earlier run do not hold the port; a listener does
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((ip, port))
        except OSError as exc:
            proto = "udp" if kind == socket.SOCK_DGRAM else "tcp"
            raise LabError(f"{ip}:{port}/{proto} is already in use ({exc.strerror}); "
                           "stop what holds it or run 'danescan lab down'") from None
        finally:
            s.close()


def nsd_conf(paths: LabPaths, net: pl.Net, zones: list[str],
             ips: tuple[str, ...] = (), name: str = "nsd") -> Path:
    d = paths.root / name
    d.mkdir(parents=True, exist_ok=True)
    lines = ["server:"]
    lines += [f"    ip-address: {ip}" for ip in ips or net.nsd_ips]
    lines += [
        "    port: 53", "    server-count: 1", "    username: \"\"", "    chroot: \"\"",
        f"    zonesdir: \"{paths.signed}\"", f"    pidfile: \"{d / 'nsd.pid'}\"",
        f"    xfrdfile: \"{d / 'xfrd.state'}\"", f"    zonelistfile: \"{d / 'zone.list'}\"",
        f"    logfile: \"{d / 'nsd.log'}\"", "    database: \"\"", "    verbosity: 1",
        "    hide-version: yes", "    tcp-count: 512", "    reuseport: no", "    refuse-any: yes",
        "remote-control:", "    control-enable: no", "",
    ]
    for z in zones:
        fname = "root.zone" if z == "." else f"{z.rstrip('.')}.zone"
        lines += ["zone:", f"    name: \"{z}\"", f"    zonefile: \"{fname}\""]
    conf = d / "nsd.conf"
    conf.write_text("\n".join(lines) + "\n")
    return conf


def start_refusing_nsd(paths: LabPaths, net: pl.Net, ips: tuple[str, ...]) -> int:
    """An NSD holding no zone at all on ``ips``: a real server answering REFUSED to every query,
    as one does for a zone delegated to it that it does not serve (a lame delegation). Apart from
    the main NSD, which holds the root and the TLDs and would answer with their referrals."""
    name = "nsd-refused"
    conf = nsd_conf(paths, net, [], ips, name)
    log = paths.root / name / "nsd.log"
    subprocess.run([_tool("nsd"), "-c", str(conf)], check=False, capture_output=True)

    def ready() -> bool:
        r = query_header(ips[0], "example.", "SOA", timeout=0.5)
        return r is not None and r[0] == dns.rcode.REFUSED

    _wait(ready, 30, "nsd (refusing)", log)
    pid = _pid(paths.root / name / "nsd.pid")
    if pid is None:
        raise LabError(f"nsd (refusing) started but left no pid file; see {log}")
    return pid


def unbound_conf(paths: LabPaths, net: pl.Net) -> Path:
    d = paths.root / "unbound"
    d.mkdir(parents=True, exist_ok=True)
    (d / "root.hints").write_text(f". 3600000 NS a.root.nic.net.\na.root.nic.net. 3600000 A "
                                  f"{net.root_ns}\n")
    conf = d / "unbound.conf"
    conf.write_text("\n".join([
        "server:",
        f"    interface: {net.resolver}", "    port: 53", "    do-ip6: no",
        "    do-not-query-localhost: no", "    username: \"\"", "    chroot: \"\"",
        f"    directory: \"{d}\"", f"    pidfile: \"{d / 'unbound.pid'}\"",
        f"    logfile: \"{d / 'unbound.log'}\"", "    use-syslog: no", "    log-time-ascii: yes",
        "    verbosity: 1", "    val-log-level: 2",
        f"    root-hints: \"{d / 'root.hints'}\"",
        f"    trust-anchor-file: \"{paths.trust_anchor}\"",
        "    access-control: 127.0.0.0/8 allow", "    qname-minimisation: no",
        "    aggressive-nsec: yes", "    num-threads: 1", "    so-reuseport: no",
        # room for queries waiting tens of seconds on lame name servers
        "    outgoing-range: 8192", "    num-queries-per-thread: 16384",
        # the clients send bursts of thousands of queries (a worker's engine holds up to 1,000
        # in flight); the default 208 KB receive buffer holds ~270 and drops the rest, so a
        # query whose every attempt met a full buffer came out TIMEOUT (issue 13)
        "    so-rcvbuf: 8m",
        "    msg-cache-size: 256m", "    rrset-cache-size: 512m", "    key-cache-size: 128m",
        "    harden-referral-path: no", "    target-fetch-policy: \"0 0 0 0 0\"",
        "    val-clean-additional: yes", "    serve-expired: no", "    prefetch: no",
        "    infra-host-ttl: 60", "    module-config: \"validator iterator\"",
        # Debian's 1.17.1 (CVE-2024-33655 backport) drops a client's query still unanswered
        # after 1.9 s; a slow or lame name server then looks to the client like a dead
        # resolver. The lab's clients wait for the answer or the SERVFAIL instead.
        "    discard-timeout: 0",
        # the same backport caps replies waiting for recursion at 1,000 per client address
        # (wait-limit) and drops the rest: a scanner is one address with up to 1,000 queries in
        # flight plus their retries (a 20,000-domain internet-lab scan lost 5,222 that way)
        "    wait-limit: 0",
        # a local socket only, for tests that switch on the query log (unbound_query_log)
        "remote-control:", "    control-enable: yes",
        f"    control-interface: \"{d / 'control.sock'}\"", "    control-use-cert: no", "",
    ]))
    return conf


def unbound_query_log(paths: LabPaths, on: bool) -> None:
    """Switch the lab resolver's query log (one line per query received, in unbound.log) on or
    off without a restart: off by default, it would slow the benchmarks."""
    conf = paths.root / "unbound" / "unbound.conf"
    out = subprocess.run(["unbound-control", "-c", str(conf), "set_option",
                          f"log-queries: {'yes' if on else 'no'}"],
                         capture_output=True, text=True, timeout=10, check=False)
    if out.returncode != 0 or "ok" not in out.stdout:
        raise LabError(f"unbound-control set_option log-queries failed: "
                       f"{(out.stdout + out.stderr).strip()}")


def smtp_connections(paths: LabPaths, timeout: float = 10.0) -> dict[str, int]:
    """Connections each lab mail server address has accepted since it started (the servers'
    own counters: SIGUSR1 makes each write its statistics file)."""
    totals: dict[str, int] = {}
    for pidfile in sorted(paths.smtp.glob("smtpd-*.pid")):
        stats = stats_file(paths.smtp / f"{pidfile.stem}.json")
        pid = _pid(pidfile)
        if pid is None:
            raise LabError(f"lab mail server {pidfile.name} is not running")
        stats.unlink(missing_ok=True)
        os.kill(pid, signal.SIGUSR1)
        _wait(stats.exists, timeout, f"statistics of {pidfile.name}")
        data = json.loads(stats.read_text())
        for ip, s in data["addresses"].items():
            totals[ip] = totals.get(ip, 0) + int(s["total"])
    return totals


def stats_file(config: Path) -> Path:
    """Where the mail server of ``config`` (smtpd-N.json) writes its statistics (a name that
    the glob for configurations, smtpd-*.json, does not match)."""
    return config.with_name(f"stats-{config.name}")


def _pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if alive(pid) else None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours counts as dead
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def _wait(cond: object, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(cond) and cond():
            return
        time.sleep(0.1)
    tail = ""
    if log and log.exists():
        tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
    raise LabError(f"{what} did not come up within {timeout:.0f} s{': ' + tail if tail else ''}")


def query(server: str, name: str, rtype: str, *, cd: bool = False,
          timeout: float = 2.0) -> dns.message.Message | None:
    q = dns.message.make_query(name, rtype, want_dnssec=True)
    if cd:
        q.flags |= dns.flags.CD
    try:
        return dns.query.udp(q, server, timeout=timeout)
    except (OSError, dns.exception.DNSException):
        return None


def query_header(server: str, name: str, rtype: str, *, cd: bool = False,
                 timeout: float = 2.0) -> tuple[int, int] | None:
    """(rcode, flags) of the answer, read from the header only.

    dnspython refuses to parse some records the lab serves on purpose (a TLSA digest whose length
    does not fit its matching type), so status checks must not depend on parsing the answer.
    """
    q = dns.message.make_query(name, rtype, want_dnssec=True)
    if cd:
        q.flags |= dns.flags.CD
    wire = q.to_wire()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(wire, (server, 53))
            while True:
                data, _ = s.recvfrom(65535)
                if len(data) >= 12 and data[:2] == wire[:2]:
                    flags = int.from_bytes(data[2:4], "big")
                    return flags & 0xF, flags
        except OSError:
            return None


def start_nsd(paths: LabPaths, net: pl.Net, zones: list[str], last_zone: str,
              ips: tuple[str, ...] = ()) -> int:
    conf = nsd_conf(paths, net, zones, ips)
    log = paths.root / "nsd" / "nsd.log"
    subprocess.run([_tool("nsd"), "-c", str(conf)], check=False, capture_output=True)

    def ready() -> bool:
        r = query(net.tld_ns, last_zone, "SOA", timeout=0.5)
        return r is not None and r.rcode() == dns.rcode.NOERROR and bool(r.answer)

    _wait(ready, 60 + len(zones) / 1000, "nsd", log)
    pid = _pid(paths.root / "nsd" / "nsd.pid")
    if pid is None:
        raise LabError(f"nsd started but left no pid file; see {log}")
    return pid


def start_unbound(paths: LabPaths, net: pl.Net) -> int:
    conf = unbound_conf(paths, net)
    log = paths.root / "unbound" / "unbound.log"
    proc = subprocess.run([_tool("unbound"), "-c", str(conf)], check=False, capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise LabError(f"unbound failed to start: {(proc.stderr or proc.stdout).strip()[:300]}")

    def ready() -> bool:
        r = query(net.resolver, ".", "SOA", timeout=0.5)
        return r is not None and bool(r.flags & dns.flags.AD)

    _wait(ready, 30, "unbound (validated answer for the root)", log)
    pid = _pid(paths.root / "unbound" / "unbound.pid")
    if pid is None:
        raise LabError(f"unbound started but left no pid file; see {log}")
    return pid


def start_smtpd(paths: LabPaths) -> list[int]:
    pids: list[int] = []
    for cfg in sorted(paths.smtp.glob("smtpd-*.json")):
        stem = cfg.name.removesuffix(".json")
        pidfile = paths.smtp / f"{stem}.pid"
        log = paths.smtp / f"{stem}.log"
        pidfile.unlink(missing_ok=True)
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "lab.smtpd", "--config", str(cfg), "--pidfile", str(pidfile),
                 "--stats", str(stats_file(cfg))],
                stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True)

        def ready(p: subprocess.Popen[bytes] = proc, pf: Path = pidfile, lg: Path = log,
                  name: str = cfg.name) -> bool:
            if p.poll() is not None:
                last = lg.read_text(errors="replace").strip().splitlines()[-1:]
                raise LabError(f"lab mail server {name} exited: {' '.join(last)}")
            return pf.exists()

        _wait(ready, 60, f"lab mail server {cfg.name}", log)
        pids.append(proc.pid)
    return pids


def stop(pids: Iterable[int], timeout: float = 10) -> list[int]:
    """SIGTERM, then SIGKILL what is left; returns the PIDs that would not die."""
    pids = [p for p in pids if alive(p)]
    for p in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        for p in pids:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(p, os.WNOHANG)
        time.sleep(0.1)
    for p in pids:
        if alive(p):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
    time.sleep(0.2)
    return [p for p in pids if alive(p)]


def reload(pids: Iterable[int]) -> None:
    for p in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGHUP)
