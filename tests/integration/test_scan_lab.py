"""The test that matters most: the lab scanned end to end, read back from ClickHouse, equals the
lab's ground truth for every domain and every MX host, on chdb and on clickhouse-server."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from danescan.embedded import ScanOptions, run_scan
from danescan.summary import summarize
from tests.integration.lab_fixtures import LabHandle, running_lab
from workers.store.backend import Database, connect
from workers.store.engines import profile
from workers.store.migrations import Migrator, discover

pytestmark = [pytest.mark.lab, pytest.mark.clickhouse, pytest.mark.slow]


_OPEN: list[Database] = []  # chdb holds one path per process: every test closes what it opened


@pytest.fixture(autouse=True)
def _close_databases() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def scan_lab(lab: LabHandle, target: str, scan_id: str, batch_size: int = 250) -> Database:
    db = connect(target)
    _OPEN.append(db)
    Migrator(db, discover(), profile("single")).apply()
    opts = ScanOptions(scan_id=scan_id, resolver=lab.resolver, trust_anchor=str(lab.trust_anchor),
                       batch_size=batch_size, public_roots=str(lab.dir / "pki" / "public-roots.pem"),
                       progress=False)
    run_scan(db, [str(p) for p in lab.zone_files], opts)
    return db


def _rows(db: Database, sql: str) -> list[tuple[Any, ...]]:
    return db.query(sql)


def compare(db: Database, lab: LabHandle, scan_id: str, first_scan: bool = True,
            hour: int | None = None, seen_before: frozenset[str] = frozenset(),
            ) -> list[tuple[Any, ...]]:
    """Differences between a stored scan and the truth of ``hour`` (default: the lab's hour).
    ``first_scan``: the database holds no earlier snapshot of the lab (no certificate history);
    otherwise ``seen_before`` names the hosts whose earlier certificate an earlier scan stored."""
    truth = lab.truth(hour)
    sid = f"'{scan_id}'"
    wrong: list[tuple[Any, ...]] = []
    domains = {r[0]: r for r in _rows(db, (
        "SELECT domain, mx, implicit_mx, null_mx, mx_dnssec_status, mx_dnssec_reason, "
        f"registered, mx_registered, no_mail, mx_status FROM domains FINAL WHERE scan_id = {sid}"
    ))}
    for name, t in truth.domains.items():
        got = domains.get(name)
        if got is None:
            wrong.append(("domain missing", name, t["scenario"]))
            continue
        want = (t["mx"], int(t["implicit_mx"]), int(t["null_mx"]), t["dnssec"]["MX"]["status"],
                t["dnssec"]["MX"]["reason"])
        if tuple([list(got[1]), *got[2:6]]) != want:
            wrong.append(("domain", name, t["scenario"], got[1:6], want))
        # the Public Suffix List: the truth names each registered domain by construction
        want_reg = (t["registered"], t["mx_registered"])
        if (got[6], list(got[7])) != want_reg:
            wrong.append(("registered", name, t["scenario"], got[6:8], want_reg))
        if got[8] != int(t["no_mail"]):
            wrong.append(("no mail service", name, t["scenario"], got[8], t["no_mail"]))
        # a lookup that failed is recorded as failed, never as "no records"
        if t.get("lookup_failed") and got[9] not in ("SERVFAIL", "TIMEOUT"):
            wrong.append(("lookup failed", name, t["scenario"], got[9]))
        bogus = t["dnssec"]["MX"]["status"] == "bogus"  # a validating resolver: SERVFAIL
        if not t.get("lookup_failed") and got[9] != "NOERROR" and not (bogus and got[9] == "SERVFAIL"):
            wrong.append(("lookup status", name, t["scenario"], got[9]))
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
        reason = v["reason_first_scan"] if first_scan or host not in seen_before else v["reason"]
        want_v = (int(v["valid"]), reason, v["rfc"], int(v["paper_valid"]))
        if tuple(got[1:5]) != want_v:
            wrong.append(("verdict", host, t["scenario"], tuple(got[1:5]), want_v))
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


@pytest.fixture(scope="module")
def young_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabHandle]:
    """A lab of its own, at hour 0 whatever other tests did to the session's lab."""
    with running_lab(tmp_path_factory.mktemp("young-lab"), domains=150, seed=11) as handle:
        yield handle


def test_second_snapshot_knows_the_old_certificate(young_lab: LabHandle, tmp_path: Any) -> None:
    """Scan, move the lab an hour on, scan again into the same database: hosts whose key rolled
    between the two snapshots and whose record still names the old key are reported as
    matches-old-certificate (the paper's "70 % of mismatches"), from the stored history."""
    lab = young_lab
    target = str(tmp_path / "db")
    before = lab.truth()
    db = scan_lab(lab, target, "snap-a")
    db.close()
    # advance until some key rolls between two consecutive hours (the lab's rollovers switch early)
    rolled: frozenset[str] = frozenset()
    while not rolled:
        lab.advance()
        after = lab.truth()
        rolled = frozenset(h for h, t in after.hosts.items() if t.get("leaf_cert_sha256")
                           != before.hosts[h].get("leaf_cert_sha256")
                           and t["verdict"]["reason"] == "matches-old-certificate")
        if not rolled:
            before = after
            db = scan_lab(lab, target, f"snap-{after.hour}")
            db.close()
        assert after.hour < 12, "no rollover left in the lab's timeline"
    db = scan_lab(lab, target, "snap-b")
    wrong = compare(db, lab, "snap-b", first_scan=False, seen_before=rolled)
    assert not wrong, wrong[:10]
    got = {r[0] for r in db.query("SELECT mx_host FROM dane_verdicts FINAL WHERE scan_id = 'snap-b'"
                                  " AND ip = '' AND reason = 'matches-old-certificate'")}
    assert got == set(rolled)


@pytest.mark.oracle
def test_verdicts_agree_with_postfix(lab: LabHandle, tmp_path: Any) -> None:
    """Our verdict's RFC outcome for every DANE MX host equals what Postfix's DANE client does."""
    from lab.oracles import posttls_finger_outcome, run_posttls_finger

    db = scan_lab(lab, str(tmp_path / "db"), "postfix")
    ours = {r[0]: r[1] for r in db.query(
        "SELECT mx_host, rfc_outcome FROM dane_verdicts FINAL WHERE scan_id = 'postfix' AND ip = ''"
        " AND reason != 'no-tlsa'")}
    assert len(ours) >= 60
    per_ip: dict[str, set[str]] = {}
    for host, rfc in db.query("SELECT mx_host, rfc_outcome FROM dane_verdicts FINAL "
                              "WHERE scan_id = 'postfix' AND ip != ''"):
        per_ip.setdefault(host, set()).add(rfc)
    lines = run_posttls_finger([f"[{h}]" for h in ours], lab.resolver, tmp_path / "ptf")
    # a host whose addresses disagree (lab scenarios rollover-addr-*): Postfix tries them in
    # random order and delivers through one that verifies; the host's verdict is its worst
    # address's, so Postfix's outcome must be one address's
    disagree = {h: (rfc, str(posttls_finger_outcome(lines[f"[{h}]"])), lines[f"[{h}]"][:2])
                for h, rfc in ours.items()
                if posttls_finger_outcome(lines[f"[{h}]"]) not in
                (per_ip[h] if len(per_ip.get(h, ())) > 1 else {rfc})}
    assert not disagree, disagree
