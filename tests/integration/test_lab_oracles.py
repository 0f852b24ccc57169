"""The lab's ground truth against reference implementations: unbound and Postfix's DANE client."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.dnssec
import dns.flags
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.zone
import pytest
from dns.rdtypes.ANY.NSEC3 import NSEC3

from lab.oracles import posttls_finger_outcome, run_posttls_finger, unbound_reason, unbound_status
from lab.plan import PER_TLD_SCENARIOS, TLD_SIGNING, TLDS
from lab.scenarios import ALL, EDGE_ROLLOVERS, ROLLOVERS
from lab.servers import query
from tests.integration.lab_fixtures import LabHandle, running_lab
from workers.vocab import DnssecStatus

pytestmark = [pytest.mark.lab, pytest.mark.oracle]


def _tlsa_name(host: dict[str, Any]) -> str:
    return f"_25._tcp.{host['cname_target'] or host['host']}."


def _tld(name: str) -> str:
    return name.rstrip(".").rsplit(".", 1)[1]


def _every_tld_saw_every_kind(checked: dict[str, set[str]]) -> None:
    """Under each TLD (NSEC3 opt-out com, NSEC3 se, NSEC net and org): a secure SLD, one with
    DNSKEY and no DS, an unsigned one and bogus ones were among the checked."""
    missing = {t: sorted(set(PER_TLD_SCENARIOS) - checked[t]) for t in TLDS}
    assert not any(missing.values()), missing


def test_unbound_agrees_on_every_tlsa_rrset(lab: LabHandle) -> None:
    truth = lab.truth()
    log = lab.dir / "unbound" / "unbound.log"
    checked = set()
    by_tld: dict[str, set[str]] = defaultdict(set)
    for host in truth.hosts.values():
        if not host["tlsa"]:
            continue
        want = host["dnssec"]["TLSA"]
        got = unbound_status(lab.resolver, _tlsa_name(host), "TLSA")
        assert got == want["status"], (host["host"], host["scenario"], got, want)
        if got == DnssecStatus.BOGUS:
            reason = unbound_reason(log, _tlsa_name(host), "TLSA")
            assert reason == want["reason"], (host["host"], host["scenario"], reason, want)
        checked.add(host["scenario"])
        by_tld[_tld(host["host"])].add(host["scenario"])
    assert {"bogus-expired", "bogus-not-yet-valid", "bogus-bad-signature", "bogus-missing-rrsig",
            "bogus-ds-mismatch", "missing-ds", "unsigned-tlsa", "valid-311"} <= checked
    _every_tld_saw_every_kind(by_tld)


def test_unbound_agrees_on_every_mx_and_address_rrset(lab: LabHandle) -> None:
    truth = lab.truth()
    by_tld: dict[str, set[str]] = defaultdict(set)
    for d in truth.domains.values():
        got = unbound_status(lab.resolver, d["domain"] + ".", "MX")
        assert got == d["dnssec"]["MX"]["status"], (d["domain"], d["scenario"], got)
        by_tld[d["tld"]].add(d["scenario"])
    _every_tld_saw_every_kind(by_tld)
    for host in truth.hosts.values():
        name = (host["cname_target"] or host["host"]) + "."
        got = unbound_status(lab.resolver, name, "A")
        assert got == host["dnssec"]["A"]["status"], (host["host"], host["scenario"], got)


def postfix_may_do(host: dict[str, Any]) -> set[str]:
    """What Postfix may do with a host: its RFC outcome; for a host whose addresses differ this
    hour (truth ``per_address``), what one of its addresses gives (Postfix tries them in random
    order and delivers through one that verifies)."""
    rfcs = {a["rfc"] for a in host.get("per_address", ())}
    return rfcs if len(rfcs) > 1 else {host["verdict"]["rfc"]}


def test_postfix_agrees_on_every_dane_mx_host(lab: LabHandle, tmp_path: Path) -> None:
    truth = lab.truth()
    hosts = {h["host"]: h for h in truth.hosts.values() if h["tlsa"]}
    lines = run_posttls_finger([f"[{h}]" for h in hosts], lab.resolver, tmp_path)
    disagree = []
    for name, host in hosts.items():
        got = posttls_finger_outcome(lines[f"[{name}]"])
        if got not in postfix_may_do(host):
            disagree.append((name, host["scenario"], str(got), host["verdict"]["rfc"],
                             lines[f"[{name}]"][:3]))
    assert not disagree, disagree
    assert len({h["scenario"] for h in hosts.values()}) >= 35
    by_tld: dict[str, set[str]] = defaultdict(set)
    for name, host in hosts.items():
        by_tld[_tld(name)].add(host["scenario"])
    _every_tld_saw_every_kind(by_tld)


def _delegations(zone: dns.zone.Zone) -> dict[dns.name.Name, bool]:
    """Delegated name -> has DS, read from a signed TLD zone."""
    out = {}
    for name, node in zone.nodes.items():
        if name != zone.origin and node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NS):
            out[name] = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.DS) is not None
    return out


def test_tld_zones_are_signed_the_registries_ways(lab: LabHandle) -> None:
    """com: BIND's NSEC3 with opt-out (a delegation without DS has no NSEC3 of its own: it is
    covered, not matched); se: ldns's NSEC3 without opt-out (every delegation matched); net and
    org: NSEC. The lab cannot fall back to NSEC silently. Each TLD keeps the key whose DS the root
    holds, and zones/ has the files as the signer wrote them."""
    root = dns.zone.from_file(str(lab.dir / "nsd" / "zones" / "root.zone"), ".", relativize=False)
    for tld in TLDS:
        path = lab.dir / "zones" / f"{tld}.zone"
        assert path.read_bytes() == (lab.dir / "nsd" / "zones" / f"{tld}.zone").read_bytes()
        text = path.read_text()
        zone = dns.zone.from_text(text, f"{tld}.", relativize=False)
        origin = zone.origin
        assert origin is not None
        dnskeys = zone.find_rrset(origin, "DNSKEY")
        root_ds = root.find_rrset(origin, "DS")
        assert {dns.dnssec.make_ds(origin, k, "SHA256") for k in dnskeys} == set(root_ds)
        types = {rds.rdtype for _n, rds in zone.iterate_rdatasets()}
        delegations = _delegations(zone)
        assert any(delegations.values()) and not all(delegations.values())
        if TLD_SIGNING[tld] == "nsec":
            assert dns.rdatatype.NSEC in types and dns.rdatatype.NSEC3 not in types
            continue
        assert dns.rdatatype.NSEC not in types
        param = zone.find_rdataset(origin, "NSEC3PARAM")[0]
        chain = {n.labels[0].decode().upper(): rd for n, _t, rd in zone.iterate_rdatas("NSEC3")
                 if isinstance(rd, NSEC3)}
        owners = sorted(chain)
        nexts = [chain[o].to_text().split()[4].upper() for o in owners]
        assert nexts == owners[1:] + owners[:1]  # one closed ring: every other hash is covered
        opt_out = TLD_SIGNING[tld] == "nsec3-optout"
        assert {rd.flags & 1 for rd in chain.values()} == {1 if opt_out else 0}, tld
        for name, has_ds in delegations.items():
            h = dns.dnssec.nsec3_hash(name, param.salt, param.iterations, param.algorithm)
            assert (h in chain) == (has_ds or not opt_out), (tld, name, has_ds)
    assert TLD_SIGNING["com"] == "nsec3-optout" and TLD_SIGNING["se"] == "nsec3"
    assert "; dnssec_signzone version" in (lab.dir / "zones" / "com.zone").read_text()


def test_unbound_sees_the_opt_out_denial_and_the_childs_keys(lab: LabHandle) -> None:
    """What tells missing-ds from unsigned, by unbound: under the opt-out TLD, the DS denial of a
    child comes without AD although the parent is secure (under NSEC and plain NSEC3 it has AD);
    the child's own DNSKEY RRset (there for missing-ds, absent for unsigned) is what differs."""
    truth = lab.truth()
    checked: dict[str, set[str]] = defaultdict(set)
    for d in truth.domains.values():
        if d["scenario"] not in ("missing-ds", "unsigned-tlsa"):
            continue
        name = d["domain"] + "."
        ds = query(lab.resolver, name, "DS", timeout=5)
        assert ds is not None and ds.rcode() == dns.rcode.NOERROR and not ds.answer, name
        denial_ad = bool(ds.flags & dns.flags.AD)
        assert denial_ad == (TLD_SIGNING[d["tld"]] != "nsec3-optout"), (name, d["tld"])
        keys = query(lab.resolver, name, "DNSKEY", timeout=5)
        assert keys is not None and keys.rcode() == dns.rcode.NOERROR, name
        assert not keys.flags & dns.flags.AD, name
        has_keys = any(r.rdtype == dns.rdatatype.DNSKEY for r in keys.answer)
        reason = d["dnssec"]["DNSKEY"]["reason"]
        assert has_keys == (reason == "missing-ds"), (name, d["scenario"], reason)
        assert reason == {"missing-ds": "missing-ds", "unsigned-tlsa": "unsigned"}[d["scenario"]]
        checked[d["tld"]].add(d["scenario"])
    assert all(checked[t] == {"missing-ds", "unsigned-tlsa"} for t in TLDS), dict(checked)


def test_postfix_agrees_on_domains_with_insecure_mx(lab: LabHandle, tmp_path: Path) -> None:
    """An insecure MX RRset: Postfix does not use DANE for its hosts ("non-DNSSEC destination")."""
    truth = lab.truth()
    domains = [d for d in truth.domains.values() if d["scenario"] in ("insecure-mx", "multi-mx-mixed",
                                                                      "implicit-mx", "mx-cname")]
    assert domains
    lines = run_posttls_finger([d["domain"] for d in domains], lab.resolver, tmp_path)
    for d in domains:
        got = posttls_finger_outcome(lines[d["domain"]])
        want = d["dane"]["rfc"]
        if d["scenario"] == "multi-mx-mixed":
            want = "verified"  # posttls-finger stops at the first MX host that verifies
        assert got == want, (d["domain"], d["scenario"], got, want, lines[d["domain"]][:3])


@pytest.fixture(scope="module")
def young_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabHandle]:
    """A lab of its own at hour 0, whatever other tests did to the session's lab."""
    with running_lab(tmp_path_factory.mktemp("young-lab"), domains=150, seed=5) as handle:
        yield handle


def test_rollovers_unfold_over_lab_hours(young_lab: LabHandle, tmp_path: Path) -> None:
    """Advance the lab hour by hour: Postfix agrees with every rollover host's truth each hour
    (the issue-16 edges included: an address down, addresses that diverge, a TTL change,
    renewals, records of every form, a bogus and an insecure RRset), and every rollover
    scenario reports each of its key changes once per host."""
    lab = young_lab
    start = lab.hour
    assert start == 0
    edges = {s.id for s in EDGE_ROLLOVERS}
    seen: set[str] = set()
    for _ in range(6):
        hour = lab.advance()
        truth = lab.truth(hour)
        hosts = {h["host"]: h for h in truth.hosts.values()
                 if h["scenario"].startswith("rollover-") or h["scenario"] in edges
                 or h["scenario"] == "matches-old-cert"}
        lines = run_posttls_finger([f"[{h}]" for h in hosts], lab.resolver, tmp_path / str(hour))
        for name, host in hosts.items():
            got = posttls_finger_outcome(lines[f"[{name}]"])
            assert got in postfix_may_do(host), (hour, name, host["scenario"], got,
                                                 lines[f"[{name}]"][:3])
            seen.add(host["scenario"])
    assert edges <= seen
    truth = lab.truth()
    changed = Counter(r["scenario"] for r in truth.rollovers)
    hosts_per_scenario = Counter(h["scenario"] for h in truth.hosts.values())
    assert set(changed) == {s.id for s in ROLLOVERS + EDGE_ROLLOVERS if s.changes()} | {"matches-old-cert"}
    assert "renewal-same-key-311" not in changed and changed["rollover-twice"] == 2 * hosts_per_scenario["rollover-twice"]
    assert all(changed[s] == hosts_per_scenario[s] * len(ALL[s].changes()) for s in changed)
