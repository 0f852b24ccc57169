"""PowerDNS Authoritative (4.7, gsqlite3 backend) for the lab's unsigned zones.

NSD would need about 11 GB for a million zones; PowerDNS reads them from one SQLite file.

* :func:`write_db` makes a fresh database with the packaged schema and bulk-loads zones given as
  lab.signer ``Record`` tuples (zone-file presentation), converted to PowerDNS's content format.
* :func:`conf` writes ``pdns.conf`` under a directory; :func:`start` starts ``pdns_server`` in its
  own session and waits until it answers.

Measured 2026-11-30 on the 2-core lab machine, shared with other test runs (load average 3.5-7
during the runs, so wall times are upper bounds): 1,000,000 zones (d000001.com. ...; SOA, 2 NS, MX,
A each, 5 million records):

* write_db: 78 s wall at load 5.7 (76 s for the one-process version); CPU 24.7 s converting +
  40.8 s inserting and indexing (the second process), so about 41 s on an idle machine. 700 MB.
  Python's sqlite3 executemany costs 3-4 us a row, the five index builds about 12 s.
* pdns start to first answer: 0.4 s with the zone cache off, 5.8-7.5 s with it on (it lists all
  zones first); RSS 85 MB / 156 MB after start.
* dnsperf, random MX of 1,000,000 distinct apexes, 20 s: 6,900 q/s at load 3.7 (2,700 at load
  7.3) with the zone cache, 2,700 without; 10,000 distinct names (packet cache hits): 38,600 q/s.
  RSS 230-330 MB after. distributor-threads 3 or receiver-threads 2: no better (6,700 / 6,400).
* 500 local-address entries: up in 0.45 s, 2 sockets each.
* REFUSED for a zone it does not hold; SERVFAIL for every name of a zone whose SOA content it
  cannot parse (break_zones; 2 log lines a query); a zone without SOA is not a zone (REFUSED).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
import sqlite3
import subprocess
import time
from collections.abc import Iterable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path

import dns.rcode

from lab import servers as srv
from lab.servers import LabError
from lab.signer import Record

SCHEMA = Path("/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql")
PDNS_SERVER = "/usr/sbin/pdns_server"
BATCH = 50_000

# types whose rdata is one domain name
_NAME_TYPES = frozenset({"NS", "CNAME", "PTR", "DNAME"})
# types whose first field is a priority PowerDNS keeps in the ``prio`` column
_PRIO_TYPES = frozenset({"MX", "SRV"})


def _name(n: str) -> str:
    """A domain name as PowerDNS stores it: lower case, without the trailing dot ("." stays)."""
    n = n.lower()
    return n[:-1] if len(n) > 1 and n.endswith(".") else n


def _target(n: str) -> str:
    """A name inside rdata: PowerDNS's format has no trailing dot (the root stays ".")."""
    return n[:-1] if len(n) > 1 and n.endswith(".") else n


def content(rtype: str, rdata: str) -> tuple[str, int | None]:
    """(content, prio) of one record in PowerDNS's format, from zone-file presentation."""
    if rtype in _NAME_TYPES:
        return _target(rdata.strip()), None
    if rtype in _PRIO_TYPES:
        prio, rest = rdata.split(None, 1)
        fields = rest.split()
        fields[-1] = _target(fields[-1])
        return " ".join(fields), int(prio)
    if rtype == "SOA":
        f = rdata.split()
        if len(f) != 7:
            raise ValueError(f"SOA rdata needs 7 fields: {rdata!r}")
        return " ".join([_target(f[0]), _target(f[1]), *f[2:]]), None
    return rdata, None


def _statements(sql: str) -> tuple[list[str], list[str]]:
    """The schema's statements: (tables, indexes), PRAGMAs left out (the loader sets its own)."""
    tables: list[str] = []
    indexes: list[str] = []
    for stmt in sql.split(";"):
        s = stmt.strip()
        if not s or s.upper().startswith("PRAGMA"):
            continue
        (indexes if re.match(r"CREATE\s+(UNIQUE\s+)?INDEX", s, re.I) else tables).append(s)
    return tables, indexes


Row = tuple[int, str, str, str, int, int | None, int]  # domain_id name type content ttl prio auth
_PLAIN = frozenset({"A", "AAAA", "TXT", "TLSA", "CAA", "SSHFP", "HINFO", "DS", "DNSKEY"})


def _zone_rows(zone_id: int, zone: str, records: Sequence[Record], out: list[Row]) -> str:
    """Append the records rows of one zone to ``out``; returns the zone's name as stored."""
    zname = _name(zone)
    cuts = None
    for owner, ttl, rtype, rdata in records:
        rt = rtype if rtype.isupper() else rtype.upper()
        o = owner.lower()
        if len(o) > 1 and o[-1] == ".":
            o = o[:-1]
        if rt in _PLAIN:
            out.append((zone_id, o, rt, rdata, ttl, None, 1))
            continue
        if rt == "NS" and o != zname:
            cuts = True
        text, prio = content(rt, rdata)
        out.append((zone_id, o, rt, text, ttl, prio, 1))
    if cuts:  # delegations and glue inside the zone are not authoritative
        names = {r[1] for r in out if r[0] == zone_id and r[2] == "NS" and r[1] != zname}
        for i in range(len(out) - 1, -1, -1):
            r = out[i]
            if r[0] != zone_id:
                break
            if (r[1] in names and r[2] != "DS") or any(r[1].endswith("." + c) for c in names):
                out[i] = (*r[:6], 0)
    return zname


_INS_R = ("INSERT INTO records(domain_id,name,type,content,ttl,prio,auth,disabled) "
          "VALUES (?,?,?,?,?,?,?,0)")
_INS_D = "INSERT INTO domains(id,name,type) VALUES (?,?,'NATIVE')"


def _open(db_path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(db_path, isolation_level=None)
    for pragma in ("journal_mode=OFF", "synchronous=OFF", "foreign_keys=OFF",
                   "locking_mode=EXCLUSIVE", "cache_size=-262144", "temp_store=MEMORY"):
        con.execute(f"PRAGMA {pragma}")
    return con


def _writer(db_path: str, conn: Connection) -> None:
    """The loader's second process: inserts the batches it receives, then builds the indexes."""
    try:
        tables, indexes = _statements(SCHEMA.read_text())
        con = _open(Path(db_path))
        con.execute("BEGIN")
        for s in tables:
            con.execute(s)
        while (msg := conn.recv()) is not None:
            records, domains = msg
            con.executemany(_INS_R, records)
            con.executemany(_INS_D, domains)
        con.execute("PRAGMA threads=2")  # the converting process is idle by now: sort on 2 cores
        for s in indexes:
            con.execute(s)
        con.execute("COMMIT")
        con.close()
        conn.send("ok")
    except sqlite3.IntegrityError as exc:
        conn.send(f"a zone is given twice ({exc})")
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        with contextlib.suppress(OSError):
            conn.send(f"{type(exc).__name__}: {exc}")


def write_db(db_path: Path, zones: Iterable[tuple[str, Sequence[Record]]]) -> int:
    """Create a fresh gsqlite3 database at ``db_path`` holding ``zones`` (streamed: a generator of
    (zone name, records) is fine); returns the number of zones. Unsigned NATIVE zones, auth=1
    except delegations and glue inside a zone, no ordername (no DNSSEC).

    Two processes: this one converts records to PowerDNS's format, a forked one inserts them
    (one transaction, no journal) and builds the schema's indexes after the load."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-journal", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    ctx = multiprocessing.get_context("fork")
    ours, theirs = ctx.Pipe()
    proc = ctx.Process(target=_writer, args=(str(db_path), theirs), daemon=True)
    proc.start()
    theirs.close()
    n = 0
    records: list[Row] = []
    domains: list[tuple[int, str]] = []
    try:
        for n, (zone, recs) in enumerate(zones, 1):
            zname = _zone_rows(n, zone, recs, records)
            domains.append((n, zname))
            if len(records) >= BATCH:
                ours.send((records, domains))
                records, domains = [], []
        ours.send((records, domains))
        ours.send(None)
        try:
            result = ours.recv()
        except EOFError:
            result = f"the writer process died (exit code {proc.exitcode})"
        if result != "ok":
            raise LabError(f"{db_path}: loading failed: {result}")
        proc.join()
    except BaseException:
        if proc.is_alive():
            proc.kill()
        proc.join()
        db_path.unlink(missing_ok=True)
        raise
    finally:
        ours.close()
    return n


def break_zones(db_path: Path, zones: Iterable[str]) -> int:
    """Make PowerDNS answer SERVFAIL for every query in ``zones`` (already in the database): their
    SOA content becomes unparseable, so the server holds the zone but cannot read it ("Backend
    error: Out of range exception parsing"), as a real server with a broken zone does.
    (A zone without SOA is not a zone to PowerDNS: REFUSED.) Returns the number of zones broken;
    run before start (or restart: answers are cached for cache-ttl)."""
    con = sqlite3.connect(db_path)
    try:
        with con:
            cur = con.executemany(
                "UPDATE records SET content='unreadable' WHERE type='SOA' AND domain_id="
                "(SELECT id FROM domains WHERE name=?)", ((_name(z),) for z in zones))
            return cur.rowcount
    finally:
        con.close()


def conf(root: Path, addresses: Sequence[str], db_path: Path) -> Path:
    """Write ``root/pdns.conf``: gsqlite3 on ``db_path``, port 53 of ``addresses``, no daemon,
    guardian, API, webserver, security polling or syslog; pid file and control socket in root."""
    root.mkdir(parents=True, exist_ok=True)
    if not addresses:
        raise LabError("pdns needs at least one address")
    lines = [
        "launch=gsqlite3",
        f"gsqlite3-database={db_path}",
        f"local-address={', '.join(addresses)}",
        "local-port=53",
        "local-address-nonexist-fail=yes",
        "guardian=no",
        "daemon=no",
        "write-pid=yes",
        f"socket-dir={root}",
        f"config-dir={root}",
        "disable-syslog=yes",
        "log-timestamp=yes",
        "loglevel=4",
        "log-dns-queries=no",
        "api=no",
        "webserver=no",
        # no query to the outside world: secpoll asks the system resolver about secpoll.powerdns.com
        "security-poll-suffix=",
        "primary=no",
        "secondary=no",
        "disable-axfr=yes",
        "version-string=anonymous",
        "reuseport=no",
        # 2 cores: one receiver, two backend threads (each with its own SQLite connection)
        "receiver-threads=1",
        "distributor-threads=2",
        # the lab's zones do not change while it runs: cache answers and backend results
        "cache-ttl=60",
        "query-cache-ttl=60",
        "negquery-cache-ttl=60",
        "max-packet-cache-entries=1000000",
        "max-cache-entries=2000000",
        # the zone cache: every zone's name in memory, listed at start (about 6 s for a million
        # zones) and again every interval; 2.5 times the queries/s of asking the database which
        # zone a name is in. Zones added later are REFUSED until the next listing.
        "zone-cache-refresh-interval=3600",
        "consistent-backends=yes",
        "",
    ]
    path = root / "pdns.conf"
    path.write_text("\n".join(lines))
    return path


def pidfile(root: Path) -> Path:
    return root / "pdns.pid"


def start(root: Path, addresses: Sequence[str], db_path: Path, probe_zone: str,
          timeout: float = 60) -> int:
    """Start pdns_server in the background (own session, output to ``root/pdns.log``), wait until
    it answers SOA for ``probe_zone`` on addresses[0]; returns its pid (also in root/pdns.pid)."""
    if not Path(PDNS_SERVER).exists():
        raise LabError(f"{PDNS_SERVER} missing; install with: apt-get install -y pdns-server "
                       f"pdns-backend-sqlite3  {srv.APT_HINT}")
    if not db_path.exists():
        raise LabError(f"{db_path}: no such database (lab.pdns.write_db makes it)")
    conf(root, addresses, db_path)
    log = root / "pdns.log"
    pid_path = pidfile(root)
    pid_path.unlink(missing_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen([PDNS_SERVER, f"--config-dir={root}"], stdout=out, stderr=out,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    # pdns 4.7 writes its pid file only when daemonizing; the lab writes it
    pid_path.write_text(f"{proc.pid}\n")
    zone = probe_zone if probe_zone.endswith(".") else probe_zone + "."

    def ready() -> bool:
        if proc.poll() is not None:
            raise LabError(f"pdns_server exited with {proc.returncode}: {_tail(log)}")
        r = srv.query(addresses[0], zone, "SOA", timeout=0.3)
        return r is not None and r.rcode() == dns.rcode.NOERROR and bool(r.answer)

    try:
        srv._wait(ready, timeout, f"pdns_server (SOA of {zone} on {addresses[0]})", log)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, 15)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        pid_path.unlink(missing_ok=True)
        raise
    return proc.pid


def _tail(log: Path, n: int = 3) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").strip().splitlines()[-n:])
    except OSError:
        return "(no log)"


def wait_ready(address: str, zone: str, timeout: float = 30) -> float:
    """Seconds until ``address`` answers SOA for ``zone`` (a helper for measurements)."""
    t0 = time.monotonic()
    srv._wait(lambda: bool((r := srv.query(address, zone, "SOA", timeout=0.3)) and r.answer),
              timeout, f"SOA of {zone} on {address}")
    return time.monotonic() - t0
