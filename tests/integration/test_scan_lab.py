"""The test that matters most: the lab scanned end to end, read back from ClickHouse, equals the
lab's ground truth for every domain and every MX host, on chdb and on clickhouse-server."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from danescan.embedded import ScanOptions, run_scan
from danescan.summary import summarize
from queries.engines import profile
from tests.integration.lab_fixtures import LabHandle
from workers.store.backend import Database, connect
from workers.store.migrations import Migrator, discover

pytestmark = [pytest.mark.lab, pytest.mark.clickhouse, pytest.mark.slow]


def scan_lab(lab: LabHandle, target: str, scan_id: str) -> Database:
    db = connect(target)
    Migrator(db, discover(), profile("single")).apply()
    opts = ScanOptions(scan_id=scan_id, resolver=lab.resolver, trust_anchor=str(lab.trust_anchor),
                       batch_size=250, public_roots=str(lab.dir / "pki" / "public-roots.pem"),
                       progress=False)
    run_scan(db, [str(p) for p in lab.zone_files], opts)
    return db


def _rows(db: Database, sql: str) -> list[tuple[Any, ...]]:
    return db.query(sql)


def compare(db: Database, lab: LabHandle, scan_id: str) -> list[tuple[Any, ...]]:
    truth = lab.truth()
    sid = f"'{scan_id}'"
    wrong: list[tuple[Any, ...]] = []
    domains = {r[0]: r for r in _rows(db, (
        "SELECT domain, mx, implicit_mx, null_mx, mx_dnssec_status, mx_dnssec_reason "
        f"FROM domains FINAL WHERE scan_id = {sid}"))}
    for name, t in truth.domains.items():
        got = domains.get(name)
        if got is None:
            wrong.append(("domain missing", name, t["scenario"]))
            continue
        want = (t["mx"], int(t["implicit_mx"]), int(t["null_mx"]), t["dnssec"]["MX"]["status"],
                t["dnssec"]["MX"]["reason"])
        if tuple([list(got[1]), *got[2:]]) != want:
            wrong.append(("domain", name, t["scenario"], got[1:], want))
    if len(domains) != len(truth.domains):
        wrong.append(("domain count", len(domains), len(truth.domains)))
    verdicts = {r[0]: r for r in _rows(db, (
        "SELECT mx_host, valid, reason, rfc_outcome, paper_valid, tlsa_dnssec_status "
        f"FROM dane_verdicts FINAL WHERE scan_id = {sid} AND ip = ''"))}
    tlsa_reason = {r[0]: r[1] for r in _rows(db, (
        f"SELECT qname, dnssec_reason FROM dns_rrsets FINAL WHERE scan_id = {sid} AND qtype = 'TLSA'"))}
    for host, t in truth.hosts.items():
        got = verdicts.get(host)
        if got is None:
            if any(host in d["mx"] for d in truth.domains.values()):
                wrong.append(("host missing", host, t["scenario"]))
            continue
        v = t["verdict"]
        want = (int(v["valid"]), v["reason"], v["rfc"], int(v["paper_valid"]))
        if tuple(got[1:5]) != want:
            wrong.append(("verdict", host, t["scenario"], tuple(got[1:5]), want))
        if t["tlsa"]:
            tw = t["dnssec"]["TLSA"]
            name = f"_25._tcp.{t['cname_target'] or host}"
            if got[5] != tw["status"] or tlsa_reason.get(name, "?") != tw["reason"]:
                wrong.append(("tlsa dnssec", host, t["scenario"], got[5], tlsa_reason.get(name),
                              tw))
    return wrong


@pytest.mark.parametrize("engine", ["chdb", "clickhouse"])
def test_scan_equals_ground_truth(lab: LabHandle, engine: str, tmp_path: Any,
                                  request: pytest.FixtureRequest) -> None:
    target = str(tmp_path / "db") if engine == "chdb" else request.getfixturevalue("clickhouse_url")
    db = scan_lab(lab, target, f"truth-{engine}")
    wrong = compare(db, lab, f"truth-{engine}")
    by_kind = Counter((w[0], w[2] if len(w) > 2 else "") for w in wrong)
    assert not wrong, (by_kind, wrong[:15])
    s = summarize(db, f"truth-{engine}")
    truth = lab.truth()
    assert s.domains == len(truth.domains)
    assert s.mx_hosts_valid == sum(1 for h in truth.hosts.values() if h["tlsa"] and h["verdict"]["valid"])


def test_rescan_with_the_same_id_adds_no_rows(lab: LabHandle, tmp_path: Any) -> None:
    target = str(tmp_path / "db")
    db = scan_lab(lab, target, "again")
    count = "SELECT count() FROM {t} FINAL WHERE scan_id = 'again'"
    before = {t: db.query(count.format(t=t))[0][0] for t in ("domains", "dane_verdicts", "dns_rrsets")}
    db.close()
    db = scan_lab(lab, target, "again")  # every domain is already stored: resumes, adds nothing
    after = {t: db.query(count.format(t=t))[0][0] for t in ("domains", "dane_verdicts", "dns_rrsets")}
    assert before == after and before["domains"] == len(lab.truth().domains)
