"""The analysis SQL against the lab's ground truth: the lab scanned at hours 0..6 (one scan per
hour, scan time = the truth's nominal time), then every query compared with what truth.jsonl
implies. Expectations are computed from the truth records, never written by hand."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from danescan.embedded import ScanOptions, run_scan
from lab.scenarios import EDGE_ROLLOVERS, SWITCH
from lab.truth import host_shares, outcome_in_window
from lab.truthfile import Truth
from queries.run import Result, execute
from tests.integration.lab_fixtures import LabHandle
from workers.store.backend import ChdbDatabase, connect
from workers.store.engines import profile
from workers.store.migrations import Migrator, discover
from workers.store.snapshots import derive

pytestmark = [pytest.mark.lab, pytest.mark.clickhouse, pytest.mark.slow]

HOURS = 7  # lab hours scanned: the rollover scenarios switch at hour 3 and settle by hour 5


@dataclass
class Scanned:
    db: ChdbDatabase
    path: Path
    truths: dict[int, Truth]  # by lab hour
    times: dict[int, dt.datetime]

    def sid(self, hour: int) -> str:
        return f"h{hour}"

    @property
    def last(self) -> int:
        return max(self.truths)

    @property
    def first(self) -> int:
        return min(self.truths)

    def q(self, name: str, **params: Any) -> Result:
        return execute(self.db, name, {k: str(v) for k, v in params.items()})

    def window(self) -> dict[str, str]:
        fmt = "%Y-%m-%d %H:%M:%S"
        return {"since": self.times[self.first].strftime(fmt), "until": self.times[self.last].strftime(fmt)}


def _time(truth: Truth) -> dt.datetime:
    text = next(iter(truth.domains.values()))["time"]
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def scanned(lab: LabHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scanned]:
    path = tmp_path_factory.mktemp("analysis") / "db"
    db = connect(str(path))
    assert isinstance(db, ChdbDatabase)
    Migrator(db, discover(), profile("single")).apply()
    truths: dict[int, Truth] = {}
    times: dict[int, dt.datetime] = {}
    start = lab.hour
    for step in range(HOURS):
        if step:
            lab.advance()
        hour = lab.hour
        truth = lab.truth(hour)
        truths[hour], times[hour] = truth, _time(truth)
        opts = ScanOptions(scan_id=f"h{hour}", resolver=lab.resolver,
                           trust_anchor=str(lab.trust_anchor), batch_size=250,
                           public_roots=str(lab.dir / "pki" / "public-roots.pem"), progress=False,
                           now=times[hour])
        run_scan(db, [str(p) for p in lab.zone_files], opts)
    assert max(truths) == start + HOURS - 1
    try:
        yield Scanned(db, path, truths, times)
    finally:
        db.close()


def tlsa_hosts(t: Truth) -> dict[str, dict[str, Any]]:
    return {h: r for h, r in t.hosts.items() if r["tlsa"]}


def test_class_of_every_domain(scanned: Scanned) -> None:
    for hour, truth in scanned.truths.items():
        got = {r["domain"]: r["class"] for r in scanned.q("management_classes", scan_id=scanned.sid(hour), threshold=50).records()}
        want = {d: r["class"] for d, r in truth.domains.items() if r["class"]}
        wrong = {d: (got.get(d), want.get(d)) for d in set(got) | set(want) if got.get(d) != want.get(d)}
        assert not wrong, (hour, len(wrong), sorted(wrong.items())[:10])
        assert Counter(want.values())["SO"] > 0 and Counter(want.values())["SSDS"] > 0


def test_validity_of_every_domain_and_per_class(scanned: Scanned) -> None:
    for hour, truth in scanned.truths.items():
        sid = scanned.sid(hour)
        got = {r["domain"]: r["valid"] for r in scanned.q("management_classes", scan_id=sid, threshold=50).records()}
        want = {d: int(r["dane"]["valid"]) for d, r in truth.domains.items() if r["class"]}
        assert got == want, (hour, {d for d in want if got.get(d) != want[d]})
        per_class: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for _d, r in truth.domains.items():
            if r["class"]:
                per_class[r["class"]][0] += 1
                per_class[r["class"]][1] += int(bool(r["dane"]["valid"]))
        rows = {r["class"]: [r["domains"], r["valid"]] for r in scanned.q("management_validity", scan_id=sid, threshold=50).records()}
        assert rows == dict(per_class), hour


def test_threshold_is_a_parameter(scanned: Scanned) -> None:
    """With a threshold above every load nothing is outsourced: no SO domain is left."""
    sid = scanned.sid(scanned.last)
    domains = len(scanned.truths[scanned.last].domains)
    classes = Counter(scanned.q("management_validity", scan_id=sid, threshold=domains).column("class"))
    assert "SO" not in classes and sum(classes.values()) > 0


def test_table1_by_tld(scanned: Scanned) -> None:
    for hour, truth in scanned.truths.items():
        hosts = tlsa_hosts(truth)
        want: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
        host_sets: dict[str, tuple[set[str], set[str]]] = defaultdict(lambda: (set(), set()))
        for r in truth.domains.values():
            for key in (r["tld"], "all"):
                w = want[key]
                w["domains"] += 1
                w["with_mx"] += int(not r["implicit_mx"] and not r["null_mx"] and bool(r["mx"]))
                if r["dane"]["valid"] is not None:
                    w["with_tlsa"] += 1
                    w["invalid_domains"] += int(not r["dane"]["valid"])
                for h in r["mx"]:
                    if h in hosts:
                        host_sets[key][0].add(h)
                        if not hosts[h]["verdict"]["valid"]:
                            host_sets[key][1].add(h)
        for key, (all_h, bad_h) in host_sets.items():
            want[key]["tlsa_mx_hosts"], want[key]["invalid_mx_hosts"] = len(all_h), len(bad_h)
        got = {r["tld"]: {k: r[k] for k in ("domains", "with_mx", "with_tlsa", "invalid_domains",
                                            "tlsa_mx_hosts", "invalid_mx_hosts")}
               for r in scanned.q("tld_deployment", scan_id=scanned.sid(hour)).records()}
        assert got == {k: dict(v) for k, v in want.items()}, hour


def test_cdf_of_domains_per_mx_host(scanned: Scanned) -> None:
    truth = scanned.truths[scanned.last]
    want: Counter[tuple[str, int]] = Counter()
    for r in tlsa_hosts(truth).values():
        if r["domains_served"]:
            want[("valid" if r["verdict"]["valid"] else "invalid", r["domains_served"])] += 1
    res = scanned.q("mx_domains_cdf", scan_id=scanned.sid(scanned.last))
    got = Counter({(r["validity"], r["domains_served"]): r["mx_hosts"] for r in res.records()})
    assert got == want
    for validity in ("valid", "invalid"):
        last = [r for r in res.records() if r["validity"] == validity][-1]
        assert last["cum_pct_domains"] == 100 and last["cum_pct_mx_hosts"] == 100


def test_dnssec_failure_reasons(scanned: Scanned) -> None:
    for hour, truth in scanned.truths.items():
        want = Counter((r["dnssec"]["TLSA"]["status"], r["dnssec"]["TLSA"]["reason"])
                       for r in tlsa_hosts(truth).values())
        res = scanned.q("dnssec_failure_reasons", scan_id=scanned.sid(hour)).records()
        assert Counter({(r["status"], r["reason"]): r["mx_hosts"] for r in res}) == want, hour
        failures = sum(n for (s, _), n in want.items() if s != "secure")
        missing = [r for r in res if r["reason"] == "missing-ds"]
        assert missing and missing[0]["pct_of_failures"] == round(100 * want[("insecure", "missing-ds")] / failures, 2)


def test_mismatch_reasons_with_history(scanned: Scanned) -> None:
    seen_old = False
    for hour, truth in scanned.truths.items():
        want = Counter(r["verdict"]["reason"] for r in tlsa_hosts(truth).values()
                       if r["dnssec"]["TLSA"]["status"] == "secure" and not r["verdict"]["valid"])
        res = scanned.q("mismatch_reasons", scan_id=scanned.sid(hour)).records()
        assert Counter({r["reason"]: r["mx_hosts"] for r in res}) == want, hour
        for r in res:  # the history in the database explains every matches-old-certificate
            expected = r["mx_hosts"] if r["reason"] == "matches-old-certificate" else 0
            if r["reason"] in ("matches-old-certificate", "no-match"):
                assert r["matches_earlier_leaf"] == expected, (hour, r)
        seen_old = seen_old or want["matches-old-certificate"] > 0
    assert seen_old


def test_rollover_hosts_hour_by_hour(scanned: Scanned) -> None:
    """The scan's verdict of every rollover host equals the truth at every hour, and for a host
    whose addresses differ (an address down, a key on one address only) each address's too."""
    hosts = {h for h, r in scanned.truths[scanned.last].hosts.items()
             if r["scenario"].startswith(("rollover-", "renewal-")) or r["scenario"] == "matches-old-cert"}
    checked_addresses = 0
    for hour, truth in scanned.truths.items():
        rows = scanned.db.query("SELECT mx_host, ip, valid, reason, rfc_outcome FROM dane_verdicts FINAL "
                                f"WHERE scan_id = '{scanned.sid(hour)}'")
        got = {(r[0], r[1]): (int(r[2]), r[3], r[4]) for r in rows if r[0] in hosts}
        for host in hosts:
            t = truth.hosts[host]
            v = t["verdict"]
            reason = v["reason_first_scan"] if hour == scanned.first else v["reason"]
            assert got[(host, "")] == (int(v["valid"]), reason, v["rfc"]), (hour, host, t["scenario"])
            for a in t.get("per_address", ()):
                reason = a["reason"]
                if hour == scanned.first and reason == "matches-old-certificate":
                    reason = "no-match"
                assert got[(host, a["ip"])] == (int(a["valid"]), reason, a["rfc"]), (hour, host, a)
                checked_addresses += 1
    assert checked_addresses >= 2 * 2 * len(scanned.truths)


def _tlsa_bogus(scanned: Scanned, host: str, hour: int) -> bool:
    rec = scanned.truths[hour].hosts[host]
    return bool(rec["tlsa"]) and rec["dnssec"]["TLSA"]["status"] == "bogus"


def _observable(scanned: Scanned, r: dict[str, Any]) -> bool:
    """A key change the scan can see: the scan probes no host whose TLSA RRset is bogus (a DANE
    client would not connect), so a change under a bogus RRset leaves no chain to compare
    (test_rollover_under_bogus_tlsa_is_not_secure)."""
    return not _tlsa_bogus(scanned, r["host"], r["hour"] - 1)


def _rollover_truth(scanned: Scanned) -> list[dict[str, Any]]:
    truth = scanned.truths[scanned.last]
    return [r for r in truth.rollovers if r["hour"] > scanned.first and _observable(scanned, r)]


def test_every_rollover_outcome(scanned: Scanned) -> None:
    """Every key change of the lab (the issue-16 edges included: diverging addresses, an
    address down, a TTL change, same-key renewals, x 0 0 / x 1 0 / x 0 2, two in a row, an
    insecure RRset) with its outcome, T and each address's own outcome."""
    truth = scanned.truths[scanned.last]
    rolls = _rollover_truth(scanned)
    want = {(r["host"], r["hour"]): (r["change"], r["outcome"], r["tlsa_ttl"], r["addresses"])
            for r in rolls}
    hour_of = {t: h for h, t in scanned.times.items()}
    res = scanned.q("rollovers", threshold=50, **scanned.window()).records()
    got = {(r["mx_host"], hour_of[r["switch_at"]]): (r["change"], r["outcome"], r["tlsa_ttl"], list(r["addresses"]))
           for r in res}
    assert got == want, {k: (got.get(k), want.get(k)) for k in set(got) | set(want) if got.get(k) != want.get(k)}
    assert len(set(o for _, o, _, _ in want.values())) >= 5
    scenarios = {r["scenario"] for r in rolls}
    assert {s.id for s in EDGE_ROLLOVERS if s.changes()} - scenarios <= {"rollover-bogus"}, scenarios
    assert not any(r["scenario"] == "renewal-same-key-311" for r in truth.rollovers)
    classes = {d["class"] for d in truth.domains.values() for h in d["mx"] if any(h == k[0] for k in want)}
    assert {r["class"] for r in res} <= classes | {"mixed"}
    new_seen = {(r["mx_host"], hour_of[r["switch_at"]]): r["new_record_seen"] for r in res}
    for r in rolls:  # the record of the new chain was seen where the truth published it
        if r["outcome"] in ("correct", "too-late") and r["published_hour"] >= scanned.first:
            assert new_seen[(r["host"], r["hour"])] == scanned.times[r["published_hour"]], r

    outcomes = scanned.q("rollover_outcomes", threshold=50, **scanned.window()).records()
    assert {r["outcome"]: r["changes"] for r in outcomes if r["dimension"] == "all"} == \
        dict(Counter(o for _, o, _, _ in want.values()))
    for dim in ("usage", "class"):
        assert sum(r["changes"] for r in outcomes if r["dimension"] == dim) == len(want)


def test_rollover_shares_per_host(scanned: Scanned) -> None:
    """The paper's headline per MX host (unit 'mx hosts'): hosts with a judged change, those
    that rolled over wrongly at least once and those that ignored the TTL, from the truth."""
    by_host: dict[str, list[str]] = defaultdict(list)
    for r in _rollover_truth(scanned):
        by_host[r["host"]].append(r["outcome"])
    want = {k: v for k, v in host_shares(by_host).items() if v or k == "judged"}
    outcomes = scanned.q("rollover_outcomes", threshold=50, **scanned.window()).records()
    hosts = [r for r in outcomes if r["dimension"] == "hosts"]
    assert {r["unit"] for r in hosts} == {"mx hosts"}
    assert {r["outcome"]: r["changes"] for r in hosts} == want
    assert want["judged"] > want["wrong-at-least-once"] > want["ignored-ttl"] > 0 and want["not-judged"] > 0
    pct = {r["outcome"]: r["pct"] for r in hosts}
    assert pct["wrong-at-least-once"] == round(100 * want["wrong-at-least-once"] / want["judged"], 2)
    assert pct["ignored-ttl"] == round(100 * want["ignored-ttl"] / want["judged"], 2)


def _in_window(scanned: Scanned, since: int) -> tuple[dict[tuple[str, int], str], dict[tuple[str, int], str],
                                                     dict[str, str]]:
    """(truth, rollovers.sql) outcomes per (host, hour) for a window from lab hour ``since``,
    and the window as query parameters."""
    assert scanned.first < since < SWITCH < scanned.last, "the scan must start before the rollovers"
    ttl_at = {(h, host): r["tlsa_ttl"] for h, t in scanned.truths.items() for host, r in t.hosts.items()}
    want = {}
    for r in _rollover_truth(scanned):
        outcome = outcome_in_window(r, since, {h: ttl_at[(h, r["host"])] for h in scanned.truths})
        if outcome is not None:
            want[(r["host"], r["hour"])] = str(outcome)
    hour_of = {t: h for h, t in scanned.times.items()}
    fmt = "%Y-%m-%d %H:%M:%S"
    window = {"since": scanned.times[since].strftime(fmt), "until": scanned.times[scanned.last].strftime(fmt)}
    res = scanned.q("rollovers", threshold=50, **window).records()
    got = {(r["mx_host"], hour_of[r["switch_at"]]): r["outcome"] for r in res}
    return want, got, window


def _early_retract(scanned: Scanned) -> set[tuple[str, int]]:
    return {(r["host"], r["hour"]) for r in _rollover_truth(scanned) if r["outcome"] == "early-retract"}


def test_rollovers_in_a_window_starting_mid_rollover(scanned: Scanned) -> None:
    """The same snapshots queried from the hour before the switch: a publication before the
    window's first snapshot that cannot be placed is before-window, not too-late; the TTL is
    read from the window; switches at the window's first snapshot are not seen at all. (Early
    retractions: test_early_retract_before_the_window_is_not_correct.)"""
    want, got_all, window = _in_window(scanned, SWITCH - 1)
    retract = _early_retract(scanned)
    want = {k: v for k, v in want.items() if k not in retract}
    got = {k: v for k, v in got_all.items() if k not in retract}
    assert got == want, {k: (got.get(k), want.get(k)) for k in set(got) | set(want) if got.get(k) != want.get(k)}
    assert "before-window" in want.values() and "correct" in want.values()
    # rollover_outcomes counts what rollovers.sql judges (the early retractions as it says)
    outcomes = scanned.q("rollover_outcomes", threshold=50, **window).records()
    assert {r["outcome"]: r["changes"] for r in outcomes if r["dimension"] == "all"} == \
        dict(Counter(want.values()) + Counter(got_all[k] for k in retract if k in got_all))


def test_early_retract_before_the_window_is_not_correct(scanned: Scanned) -> None:
    """An old record withdrawn before the window's first snapshot, the next record already
    there: inside the window the old key is presented with no record for it, so the change is
    not "correct" (the old record did not stay until the switch), and whether the old record was
    ever published is outside the window: before-window (queries/DECISIONS.md, "Window start";
    rollovers.sql said correct before: it needed the old record seen in the window)."""
    want, got, _window = _in_window(scanned, SWITCH - 1)
    retract = _early_retract(scanned)
    assert retract
    assert {k: got.get(k) for k in retract} == {k: want[k] for k in retract}


def test_rollover_under_bogus_tlsa_leaves_no_row(scanned: Scanned) -> None:
    """The scan probes no host whose TLSA RRset is bogus (a DANE client defers without
    connecting; workers/scan/batch.py wants_probe), so a key change under a bogus RRset leaves no
    chain to compare: rollovers.sql reports nothing for it (queries/DECISIONS.md, "Only DANE in
    effect is judged"), while the truth records the change as not-secure."""
    truth = scanned.truths[scanned.last]
    hidden = {(r["host"], r["hour"]): r["outcome"] for r in truth.rollovers
              if r["hour"] > scanned.first and not _observable(scanned, r)}
    assert hidden and set(hidden.values()) == {"not-secure"}
    hour_of = {t: h for h, t in scanned.times.items()}
    res = scanned.q("rollovers", threshold=50, **scanned.window()).records()
    hosts = {h for h, _ in hidden}
    assert not [r for r in res if r["mx_host"] in hosts and hour_of[r["switch_at"]] > scanned.first
                and (r["mx_host"], hour_of[r["switch_at"]]) in hidden]


def test_ca_reliance_and_renewals(scanned: Scanned) -> None:
    truth = scanned.truths[scanned.last]
    # a bogus TLSA RRset stops the client before it connects: no certificate is seen there
    probed = {h: r for h, r in tlsa_hosts(truth).items()
              if r["smtp"] == "ok" and "issuer" in r and r["dnssec"]["TLSA"]["status"] != "bogus"}
    cn = Counter(dict(p.split("=", 1) for p in r["issuer"].split(","))["CN"] for r in probed.values())
    res = scanned.q("ca_reliance", scan_id=scanned.sid(scanned.last)).records()
    got: Counter[str] = Counter()
    for r in res:
        got[r["issuer_cn"]] += r["mx_hosts"]
    assert got == cn
    lets_encrypt = sum(1 for r in probed.values() if "Let's Encrypt" in r["issuer"])
    assert sum(r["mx_hosts"] for r in res if r["kind"] == "ca-issued") == lets_encrypt > 0

    # a renewal: the host's leaf differs from the one of its last snapshot with a leaf (an hour in
    # which the host's verdict carries none, as when the address it is judged by is down, is skipped)
    want: Counter[dt.datetime] = Counter()
    last_leaf: dict[str, str] = {}
    for hour in sorted(scanned.truths):
        for h, r in tlsa_hosts(scanned.truths[hour]).items():
            if "leaf_cert_sha256" not in r or r["smtp"] != "ok" or r["dnssec"]["TLSA"]["status"] == "bogus":
                continue
            if last_leaf.get(h, r["leaf_cert_sha256"]) != r["leaf_cert_sha256"]:
                want[scanned.times[hour]] += 1
            last_leaf[h] = r["leaf_cert_sha256"]
    renewals = scanned.q("renewals", **scanned.window()).records()
    got_r: Counter[dt.datetime] = Counter()
    for r in renewals:
        got_r[r["at"]] += r["renewals"]
    assert got_r == want and sum(want.values()) > 0


def test_first_deployments(scanned: Scanned) -> None:
    want: Counter[dt.datetime] = Counter()
    seen = set(tlsa_hosts(scanned.truths[scanned.first]))
    for hour in sorted(scanned.truths)[1:]:
        new = set(tlsa_hosts(scanned.truths[hour])) - seen
        if new:
            want[scanned.times[hour]] = len(new)
        seen |= new
    got = {r["at"]: r["new_dane_mx_hosts"] for r in scanned.q("first_deployments", **scanned.window()).records()}
    assert got == dict(want)


def _mark_stale(scanned: Scanned, scans: list[str]) -> None:
    """Record the scans' stored snapshot rows as stale: derived from a version of the scans row
    that it does not have (as after a scan resumed and closed again)."""
    ids = ", ".join(f"'{s}'" for s in scans)
    scanned.db.execute(
        "INSERT INTO derived_scans SELECT s.scan_id, s.version + 1, d.threshold, now(), d.version + 1 "
        "FROM scans AS s FINAL INNER JOIN derived_scans AS d FINAL ON d.scan_id = s.scan_id "
        f"WHERE s.scan_id IN ({ids})")


def test_stored_snapshots_answer_as_the_raw_rows(scanned: Scanned) -> None:
    """Every scan stored its snapshot rows at its close (workers/store/snapshots.py), and the
    rollover, renewal and mismatch analyses read them; with some or all of them stale (a scan
    closed again) or stored at another threshold, the same views read the raw rows instead, and
    with every scan stored a second time (the rows of both derivations on disk, told apart by
    their version) the stored rows again: every answer is the same."""
    scans = [scanned.sid(h) for h in sorted(scanned.truths)]
    current = scanned.db.query(
        "SELECT d.scan_id FROM derived_scans AS d FINAL INNER JOIN scans AS s FINAL "
        "ON s.scan_id = d.scan_id AND s.version = d.scan_version WHERE d.threshold = 50")
    assert sorted(r[0] for r in current) == sorted(scans)
    assert scanned.db.query("SELECT count() FROM probe_snapshots")[0][0] > 0
    fmt = "%Y-%m-%d %H:%M:%S"
    windows = [scanned.window(),
               {"since": scanned.times[SWITCH - 1].strftime(fmt), "until": scanned.times[scanned.last].strftime(fmt)}]
    asked = [("rollovers", {"threshold": 50, **windows[0]}), ("rollovers", {"threshold": 50, **windows[1]}),
             ("rollovers", {"threshold": 1, **windows[0]}),  # no class stored at 1: read raw
             ("rollover_outcomes", {"threshold": 50, **windows[0]}),
             ("renewals", windows[0]), ("mismatch_reasons", {"scan_id": scanned.sid(scanned.last)})]

    def answers() -> list[list[tuple[Any, ...]]]:
        return [sorted(scanned.q(name, **params).rows, key=repr) for name, params in asked]

    stored = answers()
    assert stored[0], "the lab's rollovers give rows"
    assert stored[4], "the lab's renewals give rows"
    try:
        _mark_stale(scanned, scans[::2])  # half the scans read from their raw rows
        assert answers() == stored
        _mark_stale(scanned, scans)  # every scan
        assert answers() == stored
    finally:
        assert derive(scanned.db, *scans)  # stored again, as a close stores them
    assert answers() == stored


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from danescan.cli import main; main()", *args], capture_output=True,
                          text=True, timeout=600, check=False)


def test_report_cli_writes_tables_figures_and_html(scanned: Scanned, tmp_path: Path) -> None:
    """Last in the module: the CLI runs in its own process (one process per chdb directory)."""
    scanned.db.close()
    out = tmp_path / "report"
    r = _cli("report", "--db", str(scanned.path), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert f"scan {scanned.sid(scanned.last)}" in (out / "report.html").read_text()
    for png in ("mx_domains_cdf.png", "rollover_outcomes.png", "validity_by_class.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    r = _cli("query", "tld_deployment", "--db", str(scanned.path), "--param", "scan_id=nope")
    assert r.returncode != 0 and "unknown scan id" in r.stderr and "Traceback" not in r.stderr
    r = _cli("query", "management_validity", "--db", str(scanned.path),
             "--param", f"scan_id={scanned.sid(scanned.first)}", "--param", "threshold=x")
    assert r.returncode != 0 and "UInt32" in r.stderr and "Traceback" not in r.stderr
    r = _cli("query", "rollovers", "--db", str(scanned.path), "--format", "json",
             "--param", "since=2000-01-01", "--param", "until=2100-01-01")
    assert r.returncode == 0 and '"outcome"' in r.stdout
