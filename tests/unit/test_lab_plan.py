"""The lab's pure parts: plan, certificates, signer, truth and the posttls-finger parser."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import dns.dnssec
import dns.name
import dns.rdatatype
import dns.zone
import pytest

from lab import scenarios as sc
from lab.build import zone_key
from lab.extsign import SIGNERS
from lab.oracles import posttls_finger_outcome
from lab.plan import PER_TLD_SCENARIOS, TLD_SIGNING, TLDS, build_plan
from lab.signer import render_zone
from lab.truth import classify, records
from lab.world import World
from workers.vocab import ManagementClass, RfcOutcome

EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
NOW = int(dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp())


def test_same_seed_same_lab_other_seed_other_lab() -> None:
    a, b, c = build_plan(300, 5), build_plan(300, 5), build_plan(300, 6)
    assert a.domains == b.domains and a.hosts == b.hosts
    assert [d.name for d in a.domains] != [d.name for d in c.domains]
    wa, wb = World(a, 0), World(b, 0)
    host = next(h for h in a.hosts.values() if h.scenario == "valid-211")
    assert wa.host_state(host).tlsa == wb.host_state(host).tlsa
    assert wa.host_state(host).presented.leaf.der == wb.host_state(host).presented.leaf.der  # type: ignore[union-attr]


def test_every_scenario_has_instances_and_the_domain_count_is_kept() -> None:
    plan = build_plan(1000, 1)
    assert len(plan.domains) == 1000
    per_scenario = Counter(h.scenario for h in plan.hosts.values())
    for s in sc.ALL:  # the rollover edge cases once each (the lab's cost stays flat)
        assert per_scenario[s] >= (1 if sc.ALL[s] in sc.EDGE_ROLLOVERS else 2), s
    with pytest.raises(ValueError):
        build_plan(50, 1)


@pytest.mark.parametrize("n", [100, 150, 300, 1000, 10_000])
def test_every_tld_holds_a_secure_a_missing_ds_an_unsigned_and_a_bogus_sld(n: int) -> None:
    """Each way a TLD is signed (NSEC, NSEC3, NSEC3 opt-out) meets each kind of child, at every
    lab size the tests use."""
    plan = build_plan(n, 7)
    placed = {(d.tld, d.scenario) for d in plan.domains}
    missing = [(t, s) for t in TLDS for s in PER_TLD_SCENARIOS if (t, s) not in placed]
    assert not missing, (n, missing)
    # the smallest labs hold every scenario even when that takes a few domains more than asked
    assert len(plan.domains) == n if n >= 150 else len(plan.domains) >= n
    assert set(TLD_SIGNING) == set(TLDS)
    assert set(TLD_SIGNING.values()) == {"nsec"} | set(SIGNERS)


def test_truth_under_the_opt_out_tld_says_missing_ds() -> None:
    """The answer under NSEC3 opt-out is the same as under NSEC: the zone has DNSKEY, the parent
    (secure) has no DS."""
    want = {"valid-311": ("secure", ""), "missing-ds": ("insecure", "missing-ds"),
            "unsigned-tlsa": ("insecure", "unsigned"), "bogus-ds-mismatch": ("bogus", "ds-mismatch"),
            "bogus-expired": ("secure", "")}
    assert TLD_SIGNING["com"] == "nsec3-optout"
    seen = set()
    for r in records(World(build_plan(300, 7), 0), EPOCH):
        if r["kind"] != "domain" or r["tld"] != "com" or r["class"] == "SO":
            continue  # SO: customers of the hosters, with scenario valid-311 on unsigned zones too
        if r["scenario"] in want:
            got = r["dnssec"]["MX"]
            assert (got["status"], got["reason"]) == want[r["scenario"]], r
            assert r["dnssec"]["DNSKEY"] == got
            seen.add(r["scenario"])
    assert seen == set(want)


def test_classification_follows_the_rules() -> None:
    plan = build_plan(1000, 1)
    classes = classify(plan)
    for d in plan.domains:
        if d.hoster == "bighost.net" and d.name != d.hoster:
            assert classes[d.name] == ManagementClass.SO
        elif d.scenario == "valid-311" and d.shape == "SSDS" and not d.hoster and d.mx and d.mx[0][1].endswith(d.name):
            assert classes[d.name] == ManagementClass.SSDS
        elif d.scenario == "no-match" and d.shape == "SSDO":
            assert classes[d.name] == ManagementClass.SSDO
        elif d.hoster == "plainmail.org":
            assert classes[d.name] == ""  # no TLSA: no class
    # below the threshold nothing is outsourced by rule 3
    tiny = classify(build_plan(1000, 1), threshold=10**6)
    assert tiny[next(d.name for d in plan.domains if d.hoster == "bighost.net")] != "SO"


def _validate(text: str, origin: str, owner: str, rtype: str, now: int) -> None:
    zone = dns.zone.from_text(text, origin, relativize=False, check_origin=False)
    name = dns.name.from_text(owner)
    rdtype = dns.rdatatype.from_text(rtype)
    rrset = zone.find_rrset(name, rdtype)
    sigs = zone.find_rrset(name, dns.rdatatype.RRSIG, covers=rdtype)
    keys = {dns.name.from_text(origin): zone.find_rrset(dns.name.from_text(origin), "DNSKEY")}
    dns.dnssec.validate(rrset, sigs, keys, now=now)


@pytest.mark.parametrize("breakage", ["", "expired", "not-yet-valid", "bad-signature"])
def test_signer_signs_and_breaks_tlsa_only(breakage: str) -> None:
    recs = [("ex.com.", 3600, "SOA", "ns1.nic.com. h.ex.com. 1 3600 900 604800 300"),
            ("ex.com.", 3600, "NS", "ns1.dnsop.net."), ("ex.com.", 3600, "MX", "10 mail.ex.com."),
            ("mail.ex.com.", 3600, "A", "127.25.1.2"),
            ("_25._tcp.mail.ex.com.", 3600, "TLSA", "3 1 1 " + "ab" * 32)]
    text = render_zone("ex.com.", recs, zone_key(1, "ex.com"), NOW, breakage)
    _validate(text, "ex.com.", "ex.com.", "MX", NOW)
    if breakage:
        with pytest.raises(dns.dnssec.ValidationFailure):
            _validate(text, "ex.com.", "_25._tcp.mail.ex.com.", "TLSA", NOW)
    else:
        _validate(text, "ex.com.", "_25._tcp.mail.ex.com.", "TLSA", NOW)
    assert "NSEC" in text


def test_truth_follows_rollovers_and_multi_mx() -> None:
    plan = build_plan(300, 3)
    by_hour = {h: list(records(World(plan, h), EPOCH)) for h in range(0, 7)}
    rolled = {r["scenario"]: r for h in by_hour for r in by_hour[h] if r["kind"] == "rollover"}
    assert {s.id for s in sc.ROLLOVERS + sc.EDGE_ROLLOVERS if s.changes()} | {"matches-old-cert"} == set(rolled)
    assert rolled["rollover-current-next"]["hour"] == sc.SWITCH
    hosts = {(r["hour"], r["scenario"]): r for h in by_hour for r in by_hour[h] if r["kind"] == "mx"}
    assert hosts[(sc.SWITCH, "rollover-not-updated")]["verdict"]["reason"] == "matches-old-certificate"
    assert hosts[(sc.SWITCH - 1, "rollover-not-updated")]["verdict"]["valid"] is True
    # the TLSA data really changes with the certificate key in current+next
    before = hosts[(0, "rollover-current-next")]["tlsa"]
    during = hosts[(1, "rollover-current-next")]["tlsa"]
    assert len(before) == 1 and len(during) == 2 and before[0] in during
    multi = [r for r in by_hour[0] if r["kind"] == "domain" and r["scenario"] == "multi-mx-mixed"]
    assert multi and all(r["dane"]["valid"] is False and r["dane"]["reason"] == "no-match" for r in multi)


POSTFIX_LINES = {
    "posttls-finger: Verified TLS connection established to mx1.b.net[127.25.0.10]:25: TLSv1.3": RfcOutcome.VERIFIED,
    "posttls-finger: Trusted TLS connection established to mx.s.com[127.25.1.118]:25: TLSv1.3": RfcOutcome.VERIFIED,
    "posttls-finger: server certificate verification failed for m[1]:25: num=65:no matching DANE TLSA records\n"
    "posttls-finger: Untrusted TLS connection established to m[1]:25": RfcOutcome.DEFER,
    "posttls-finger: warning: m[1]:25: all TLSA records unusable, fallback to unauthenticated TLS\n"
    "posttls-finger: Untrusted TLS connection established to m[1]:25": RfcOutcome.ENCRYPT_ONLY,
    "posttls-finger: certificate verification failed for m[1]:25: self-signed certificate\n"
    "posttls-finger: Untrusted TLS connection established to m[1]:25": RfcOutcome.NO_DANE,
    "posttls-finger: Failed to establish session to [m] via m: TLSA lookup error for m:25": RfcOutcome.DEFER,
    "posttls-finger: STARTTLS rejected: 454 4.7.0 TLS not available": RfcOutcome.DEFER,
}


@pytest.mark.parametrize("text", list(POSTFIX_LINES))
def test_posttls_finger_parser(text: str) -> None:
    assert posttls_finger_outcome(text.splitlines()) == POSTFIX_LINES[text]
