"""The exclusion list against the lab, checked on the servers' side: an excluded domain or MX host
name reaches the lab's resolver in no query (unbound's query log), an excluded mail server address
gets no connection (the lab mail servers' own counters); and the rows say ``excluded``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from danescan.embedded import ScanOptions, run_scan
from danescan.summary import summarize
from lab import servers
from lab.paths import LabPaths
from tests.integration.cluster_procs import (
    cluster_env,
    enqueue_lab,
    fresh_redis,
    processes,
    wait_for,
)
from tests.integration.lab_fixtures import LabHandle
from workers.cluster.state import progress
from workers.exclusion import load
from workers.store.backend import Database, connect
from workers.store.engines import profile
from workers.store.migrations import Migrator, discover

pytestmark = [pytest.mark.lab, pytest.mark.clickhouse]


def _pick(lab: LabHandle) -> dict[str, Any]:
    """Three domains, one MX host name and one address to exclude, each of a DANE host that a
    scan would probe (valid, reached over STARTTLS), none sharing an address with another host."""
    truth = lab.truth()
    by_address: Counter[str] = Counter(a for h in truth.hosts.values() for a in h["addresses"])
    users: Counter[str] = Counter(m for d in truth.domains.values() for m in d["mx"])

    def probed(host: str) -> bool:
        h = truth.hosts.get(host)
        return (h is not None and h["verdict"]["valid"] and len(h["addresses"]) == 1
                and by_address[h["addresses"][0]] == 1 and users[host] == 1)

    candidates = sorted(d for d, t in truth.domains.items()
                        if t["mx"] and len(t["mx"]) == 1 and probed(t["mx"][0])
                        and t["mx"][0].endswith("." + d))
    if len(candidates) < 6:
        pytest.fail(f"the lab has too few single-host DANE domains ({len(candidates)})")
    domains = candidates[:3]
    host_domain = candidates[3]  # scanned, but its MX host (mail.<it>) is excluded by name
    addr_domain = candidates[4]
    host = truth.domains[host_domain]["mx"][0]
    addr_host = truth.domains[addr_domain]["mx"][0]
    return {"domains": domains, "host": host, "host_domain": host_domain,
            "address": truth.hosts[addr_host]["addresses"][0], "addr_host": addr_host,
            "addr_domain": addr_domain,
            "excluded_addresses": [truth.hosts[truth.domains[d]["mx"][0]]["addresses"][0]
                                   for d in domains] + [truth.hosts[host]["addresses"][0]],
            "control": truth.hosts[truth.domains[candidates[5]]["mx"][0]]["addresses"][0]}


def _queries_after(log: Path, offset: int) -> list[str]:
    """Query names the resolver logged after ``offset`` (log-queries lines: "info: IP NAME TYPE
    CLASS"), lower case, without the trailing dot."""
    with log.open("rb") as fh:
        fh.seek(offset)
        text = fh.read().decode("utf-8", "replace")
    names = []
    for line in text.splitlines():
        parts = line.split("info: ", 1)[-1].split()
        if len(parts) == 4 and parts[0].startswith("127.") and parts[3] == "IN":
            names.append(parts[1].rstrip(".").lower())
    return names


def _under(name: str, suffix: str) -> bool:
    return name == suffix or name.endswith("." + suffix)


@pytest.fixture
def query_log(lab: LabHandle) -> Iterator[Path]:
    paths = LabPaths(lab.dir)
    servers.unbound_query_log(paths, True)
    try:
        yield paths.root / "unbound" / "unbound.log"
    finally:
        servers.unbound_query_log(paths, False)


def _check(pick: dict[str, Any], lab: LabHandle, asked: list[str], before: dict[str, int],
           after: dict[str, int], db: Database, scan_id: str, digest: str) -> None:
    """The servers' side (no query for an excluded name, no connection to an excluded address)
    and the rows."""
    assert len(asked) > len(lab.truth().domains)  # the query log did record the scan
    assert pick["host_domain"] in asked  # the domain of the excluded host was scanned
    assert any(_under(n, pick["addr_host"]) for n in asked)  # looked up, not connected to
    for suffix in [*pick["domains"], pick["host"]]:
        sent = [n for n in asked if _under(n, suffix)]
        assert not sent, f"queries for excluded {suffix}: {sent[:5]}"
    for ip in pick["excluded_addresses"]:
        assert after.get(ip, 0) == before.get(ip, 0), f"{ip} was connected to"
    control = pick["control"]
    assert after.get(control, 0) > before.get(control, 0)  # a like host was probed

    sid = f"'{scan_id}'"
    rows = dict(db.query(f"SELECT domain, status FROM domains FINAL WHERE scan_id = {sid}"))
    assert {d: rows[d] for d in pick["domains"]} == {d: "EXCLUDED" for d in pick["domains"]}
    assert rows[pick["host_domain"]] == "NOERROR"
    statuses = dict(db.query(
        f"SELECT qtype, status FROM dns_rrsets FINAL WHERE scan_id = {sid} "
        f"AND qname = '{pick['domains'][0]}'"))
    assert statuses == {t: "EXCLUDED" for t in ("MX", "NS", "DS", "DNSKEY")}
    # never asked, so no lookup failed: the DNSSEC reason says excluded, on every row
    dnssec = set(db.query(
        f"SELECT dnssec_status, dnssec_reason FROM dns_rrsets FINAL WHERE scan_id = {sid} "
        f"AND qname = '{pick['domains'][0]}'"))
    dnssec |= set(db.query(f"SELECT mx_dnssec_status, mx_dnssec_reason FROM domains FINAL "
                           f"WHERE scan_id = {sid} AND status = 'EXCLUDED'"))
    assert dnssec == {("indeterminate", "excluded")}
    verdict = db.query(f"SELECT reason, rfc_outcome FROM dane_verdicts FINAL WHERE "
                       f"scan_id = {sid} AND mx_host = '{pick['host']}'")
    assert verdict == [("excluded", "unknown")]
    probes = db.query(f"SELECT ip, status, error FROM starttls_probes FINAL WHERE "
                      f"scan_id = {sid} AND mx_host = '{pick['addr_host']}'")
    assert probes == [(pick["address"], "excluded", "excluded: not connected: the address "
                       "is on the exclusion list")]
    assert db.query(f"SELECT count() FROM starttls_probes FINAL WHERE scan_id = {sid} "
                    "AND status = 'probe-error'") == [(0,)]
    settings = db.query(f"SELECT settings FROM scans FINAL WHERE scan_id = {sid}")[0][0]
    assert digest in settings and '"exclude_entries": 5' in settings
    s = summarize(db, scan_id)
    assert (s.excluded_domains, s.excluded_hosts, s.excluded_addresses) == (3, 1, 1)


def _write_list(pick: dict[str, Any], path: Path) -> Path:
    path.write_text("# opt-outs received by mail\n"
                    + "".join(f"{d.upper()}.   # asked 2026-11-01\n" for d in pick["domains"])
                    + f"{pick['host']}\n\n{pick['address']}/32\n")
    return path


def test_excluded_names_and_addresses_get_no_packet(lab: LabHandle, query_log: Path,
                                                     tmp_path: Path) -> None:
    pick = _pick(lab)
    exclusions = load(str(_write_list(pick, tmp_path / "exclude.txt")))
    paths = LabPaths(lab.dir)
    before = servers.smtp_connections(paths)
    offset = query_log.stat().st_size
    db = connect(str(tmp_path / "db"))
    try:
        Migrator(db, discover(), profile("single")).apply()
        opts = ScanOptions(scan_id="polite", resolver=lab.resolver,
                           trust_anchor=str(lab.trust_anchor), batch_size=1000,
                           public_roots=str(lab.dir / "pki" / "public-roots.pem"), progress=False,
                           exclusions=exclusions)
        run_scan(db, [str(p) for p in lab.zone_files], opts)
        after = servers.smtp_connections(paths)
        _check(pick, lab, _queries_after(query_log, offset), before, after, db, "polite",
               exclusions.sha256)
    finally:
        db.close()


@pytest.mark.redis
def test_cluster_workers_apply_the_list_of_the_scan(lab: LabHandle, query_log: Path,
                                                     clickhouse_url: str, tmp_path: Path) -> None:
    """The list is given to enqueue only (the workers have none of their own): it travels with
    the scan. The workers also run under connection-rate limits held in Redis."""
    pick = _pick(lab)
    listing = _write_list(pick, tmp_path / "exclude.txt")
    r = fresh_redis()
    env = cluster_env(clickhouse_url, resolver=lab.resolver, rate_per_ip="1200",
                      rate_global="500")
    paths = LabPaths(lab.dir)
    before = servers.smtp_connections(paths)
    offset = query_log.stat().st_size
    logs = [tmp_path / "writer.log", tmp_path / "worker.log"]
    with processes() as start:
        start(["writer"], env, logs[0])
        start(["worker", "-c", "2"], env, logs[1])
        enqueue_lab(lab, env, "polite-cluster", 50, "--exclude", str(listing))
        wait_for(lambda: (p := progress(r, "polite-cluster")) is not None and p.complete, 120,
                 "the cluster scan to finish", logs)
    after = servers.smtp_connections(paths)
    db = connect(clickhouse_url)
    try:
        _check(pick, lab, _queries_after(query_log, offset), before, after, db,
               "polite-cluster", load(str(listing)).sha256)
    finally:
        db.close()
