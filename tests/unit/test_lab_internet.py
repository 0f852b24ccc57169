"""The Internet-shaped lab's plan (pure): its shares, its edge cases and their truth."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest

from lab import internet as inet
from lab.plan import Plan
from lab.shapes import build_plan
from lab.truth import classify, lookup_fails, mail_hosts
from workers.vocab import ManagementClass

N = 30_000


@pytest.fixture(scope="module")
def plan() -> Plan:
    return build_plan(N, 3, 0, "internet")


def _tlsa_domains(plan: Plan) -> set[str]:
    return {d.name for d in plan.domains
            if any(plan.hosts[h].scenario for h in mail_hosts(d, plan) if h in plan.hosts)}


def test_same_seed_same_plan() -> None:
    a, b = build_plan(2000, 9, 0, "internet"), build_plan(2000, 9, 0, "internet")
    assert a.domains == b.domains and a.hosts == b.hosts
    assert build_plan(2000, 10, 0, "internet").domains != a.domains


def test_too_small_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1000"):
        build_plan(999, 1, 0, "internet")
    with pytest.raises(ValueError, match="unknown lab shape"):
        build_plan(1000, 1, 0, "weird")


def test_size_and_tld_mix(plan: Plan) -> None:
    assert len(plan.domains) == N
    assert len({d.name for d in plan.domains}) == N
    by_tld = Counter(d.tld for d in plan.domains)
    assert by_tld["com"] / N == pytest.approx(inet.MIX["com"].share, abs=0.03)


def test_tlsa_and_signed_shares_follow_the_paper(plan: Plan) -> None:
    """About 1 % of .com MX domains and about 40 % of .se MX domains have a TLSA MX host;
    about 5 % of .com and half of .se is signed (the bulk, without the fixed edge cases)."""
    bulk = [d for d in plan.domains if d.scenario not in ("edge-case", "infra")]
    tlsa = _tlsa_domains(plan)
    for tld, lo, hi in (("com", 0.006, 0.014), ("se", 0.36, 0.47)):
        with_mx = [d for d in bulk if d.tld == tld and d.mx]
        share = sum(d.name in tlsa for d in with_mx) / len(with_mx)
        assert lo < share < hi, (tld, share)
    com = [d for d in bulk if d.tld == "com"]
    se = [d for d in bulk if d.tld == "se"]
    assert 0.03 < sum(d.signed for d in com) / len(com) < 0.07
    assert 0.4 < sum(d.signed for d in se) / len(se) < 0.6


def test_hosting_is_heavy_tailed(plan: Plan) -> None:
    served: Counter[str] = Counter()
    for d in plan.domains:
        for h in mail_hosts(d, plan):
            served[plan.registered(h)] += 1
    top = served.most_common()
    total = sum(served.values())
    # the biggest provider serves about a quarter, the top 10 most, and many serve one domain
    assert top[0][1] / total > 0.12
    assert sum(c for _, c in top[:10]) / total > 0.4
    assert sum(1 for _, c in top if c == 1) > 1000
    tlsa = _tlsa_domains(plan)
    dane_served = Counter(plan.registered(h) for d in plan.domains if d.name in tlsa
                          for h in mail_hosts(d, plan) if plan.hosts[h].scenario)
    assert dane_served.most_common(1)[0][0] == "danehost.net"
    assert dane_served["danehost.net"] / len(tlsa) > 0.3


def test_fault_rates(plan: Plan) -> None:
    faults = Counter(d.fault for d in plan.domains)
    plain = sum(1 for d in plan.domains if not d.signed)
    lame = (faults["lame-all"] + faults["lame-one"]) / plain
    assert 0.012 < lame < 0.03
    failing = sum(1 for d in plan.domains if lookup_fails(d))
    assert failing == sum(faults[f] for f in inet.FAILING_FAULTS) > 0
    tlsa = _tlsa_domains(plan)
    hit = [d for d in plan.domains if d.fault]
    assert hit and all(not d.signed and d.name not in tlsa for d in hit)  # as documented
    assert {d.scenario for d in plan.domains} >= {"mx-cname", "mx-no-address", "mx-localhost",
                                                 "mx-literal"}


def test_the_clean_lab_is_the_same_lab_without_name_server_faults() -> None:
    faulty, clean = build_plan(3000, 9, 0, "internet"), build_plan(3000, 9, 0, "internet-clean")
    assert not any(d.fault for d in clean.domains) and clean.hosts == faulty.hosts
    assert not any(lookup_fails(d) for d in clean.domains)
    hit = {d.name for d in faulty.domains if d.fault}
    assert len(hit) > 50
    for a, b in zip(faulty.domains, clean.domains, strict=True):
        assert (a.name, a.mx, a.signed, a.ds_in_parent) == (b.name, b.mx, b.signed, b.ds_in_parent)
        assert (a.ns == b.ns and a.scenario == b.scenario) == (a.name not in hit), a.name


def test_threshold_cases_are_exact(plan: Plan) -> None:
    mx_domains: dict[str, set[str]] = defaultdict(set)
    ns_domains: dict[str, set[str]] = defaultdict(set)
    names_per_ip: dict[str, set[str]] = defaultdict(set)
    for d in plan.domains:
        for h in mail_hosts(d, plan):
            mx_domains[plan.registered(h)].add(d.name)
            for ip in plan.hosts[h].ips:
                names_per_ip[ip].add(h)
        for ns in d.ns:
            ns_domains[plan.registered(ns)].add(d.name)
    for size in inet.THRESHOLD_SIZES:
        assert len(mx_domains[f"t{size}.net"]) == size
        assert len(ns_domains[f"n{size}.net"]) == size
        p_ips = {ip for h in plan.hosts.values() if h.zone == f"p{size}.net" for ip in h.ips}
        assert len(p_ips) == 1 and len(names_per_ip[p_ips.pop()]) == size


def test_classes_at_the_threshold_and_under_multi_label_suffixes(plan: Plan) -> None:
    """methodology.md section 4, threshold 50: more than 50 is outsourced, 50 is not."""
    classes = classify(plan)

    def classes_of(pred: object) -> Counter[str]:
        return Counter(str(classes[d.name]) for d in plan.domains if callable(pred) and pred(d))

    def mx_zone(zone: str) -> object:
        return lambda d: any(plan.hosts[h].zone == zone for _, h in d.mx)

    assert classes_of(mx_zone("t49.net")) == {"unknown": 49}
    assert classes_of(mx_zone("t50.net")) == {"unknown": 50}
    assert classes_of(mx_zone("t51.net")) == {"SO": 51}
    assert classes_of(mx_zone("p50.net")) == {"unknown": 50}
    assert classes_of(mx_zone("p51.net")) == {"SO": 51}
    assert classes_of(lambda d: "ns1.n50.net" in d.ns) == {"unknown": 50}
    assert classes_of(lambda d: "ns1.n51.net" in d.ns) == {"SSDO": 51}
    # one customer per registered domain under pp.se: a two-label rule would see one provider
    # with 60 customers (outsourced); the Public Suffix List sees 60 self-standing ones
    pp = [d for d in plan.domains if any(plan.hosts[h].scenario and plan.hosts[h].zone == "pp.se"
                                         for _, h in d.mx)]
    assert len(pp) == inet.SUFFIX_DANE
    assert {classes[d.name] for d in pp} == {ManagementClass.UNKNOWN}
    assert plan.registered("mx.c123.pp.se") == "c123.pp.se"
    assert plan.registered("pp.se") == ""
    assert plan.registered("mail.app7.herokuapp.com") == "app7.herokuapp.com"
    assert plan.registered("127.0.0.1") == "0.1" and plan.registered("localhost") == ""
    assert {"SO", "SSDO", "SSDS", "mixed", "unknown"} <= set(map(str, classes.values()))


def test_mixed_sets_and_address_families(plan: Plan) -> None:
    mixed_tlsa = [d for d in plan.domains if d.mx and len({bool(plan.hosts[h].scenario)
                                                            for _, h in d.mx}) == 2]
    assert mixed_tlsa
    hosts = list(plan.hosts.values())
    assert any(h.ipv6 and not h.ips for h in hosts)  # AAAA only
    assert any(h.ipv6 and h.ips for h in hosts)  # dual stack
    assert all(ip == "::1" for h in hosts for ip in h.ipv6)
    assert all(ip.startswith("127.") for h in hosts for ip in h.ips)
    assert all(ip.startswith("127.") for ips in plan.server_ips.values() for ip in ips)
    mixed_ns = [d for d in plan.domains if len({plan.registered(n) for n in d.ns}) == 2]
    assert mixed_ns
