"""The lab's layout: which domains exist, who hosts their mail and DNS, at which addresses.

Pure and deterministic: the same (seed, number of domains) always gives the same plan.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import cached_property

from lab import scenarios as sc

TLDS = ("com", "net", "org", "se")
# How each TLD zone is signed (lab.build): "nsec" by the project's own signer (lab.signer),
# "nsec3-optout" by BIND's dnssec-signzone (as .com/.org), "nsec3" by ldns-signzone (as .se).
TLD_SIGNING = {"com": "nsec3-optout", "net": "nsec", "org": "nsec", "se": "nsec3"}
# Scenarios placed under every TLD whatever the lab's size: a secure SLD, one with DNSKEY and no
# DS, an unsigned one and bogus ones, so that each kind of parent denial meets each of them.
PER_TLD_SCENARIOS = ("valid-311", "missing-ds", "unsigned-tlsa", "bogus-ds-mismatch",
                     "bogus-expired")

DNS_OPERATORS = ("dnsop.net", "cloudns.se")
HOSTER_SLOTS = {"bighost.net": (10, 11), "perhost.net": (20, 21), "megamail.org": (30,),
                "plainmail.org": (40,)}
SLOTS = 10  # labs that can run side by side, each on its own addresses
# internet shape (lab.internet.FAULTS): faults that break every name server of a delegation
FAILING_FAULTS = frozenset({"lame-all", "refused-all", "gone-all", "servfail-all"})


@dataclass(frozen=True)
class Net:
    """The lab's loopback addresses. Slot 0: DNS on 127.53.x.y, mail on 127.25.x.y and up;
    slot k > 0: DNS on 127.(53+k).x.y, mail on 127.(100+5k).x.y and up."""

    slot: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.slot < SLOTS:
            raise ValueError(f"lab slot must be 0..{SLOTS - 1}, got {self.slot}")

    @property
    def dns(self) -> int:
        return 53 + self.slot

    @property
    def mail(self) -> int:
        return 25 if self.slot == 0 else 100 + 5 * self.slot

    @property
    def resolver(self) -> str:
        return f"127.{self.dns}.53.53"

    @property
    def root_ns(self) -> str:
        return f"127.{self.dns}.0.1"

    @property
    def tld_ns(self) -> str:
        return f"127.{self.dns}.0.2"

    @property
    def dnsop_ns(self) -> tuple[str, str]:
        return f"127.{self.dns}.1.1", f"127.{self.dns}.1.2"

    @property
    def self_ns(self) -> tuple[str, str]:
        return f"127.{self.dns}.2.1", f"127.{self.dns}.2.2"

    @property
    def nsd_ips(self) -> tuple[str, ...]:
        return (self.root_ns, self.tld_ns, *self.dnsop_ns, *self.self_ns)

    def hoster_ips(self, hoster: str) -> tuple[str, ...]:
        return tuple(f"127.{self.mail}.0.{last}" for last in HOSTER_SLOTS[hoster])

    def mail_ip(self, index: int) -> str:
        """The index-th self-managed mail server address: x.1.2 upwards, skipping .0/.1/.255."""
        block, offset = divmod(index, 250)
        second, third = divmod(block + 1, 256)
        return f"127.{self.mail + second}.{third}.{offset + 2}"

    def ns_ip(self, ns: str) -> str:
        """Where a name server name points: DNS operators on their own addresses."""
        first = 0 if ns.startswith("ns1.") else 1
        if ns.split(".", 1)[1] in DNS_OPERATORS:
            return self.dnsop_ns[first]
        return self.self_ns[first]


NO_DANE_HOSTER = "plainmail.org"


@dataclass(frozen=True)
class MxHost:
    """One MX host name as it appears in an MX RRset."""

    name: str
    zone: str  # the zone holding its address (and TLSA) records
    scenario: str  # scenario id, or "" for a host without TLSA
    ips: tuple[str, ...]
    cname_target: str | None = None  # the MX name is a CNAME to this name (same zone)
    shared_cert: str = ""  # hosters: all their names present one certificate with this label
    listen: bool = True  # a mail server answers on its addresses (no-TLSA hosts of the
    # internet shape have none: a scan probes DANE hosts only)
    ipv6: tuple[str, ...] = ()  # AAAA records (::1: the only IPv6 loopback address)
    in_lab: bool = True  # its records are in a lab zone (not: localhost., an address literal)

    @property
    def tlsa_host(self) -> str:
        return self.cname_target or self.name


@dataclass(frozen=True)
class Domain:
    name: str
    tld: str
    scenario: str  # scenario id, "no-tlsa", "no-tlsa-unsigned", "null-mx", or a hoster's
    shape: str  # SO | SSDO | SSDS | none: how the lab built it
    mx: tuple[tuple[int, str], ...]  # (preference, host); empty: implicit MX or null MX
    null_mx: bool
    ns: tuple[str, ...]
    signed: bool
    ds_in_parent: bool
    ds_mismatch: bool
    hoster: str = ""
    fault: str = ""  # internet shape: the DNS fault of its delegation (lab.internet.FAULTS)

    @property
    def lookup_fails(self) -> bool:
        """Every name server of the delegation is broken: the MX lookup fails."""
        return self.fault in FAILING_FAULTS


@dataclass(frozen=True)
class Plan:
    seed: int
    net: Net
    domains: tuple[Domain, ...]
    hosts: dict[str, MxHost]  # by MX name
    infra_zones: tuple[str, ...]  # hoster and DNS operator zones (each also a Domain)
    shape: str = "scenario"  # "scenario" (every outcome, dense) or "internet" (lab.internet)
    # name server name -> its addresses; a name absent here does not resolve
    ns_addresses: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # multi-label public suffixes whose names the lab uses (registered domains one label below)
    suffixes: tuple[str, ...] = ()
    # server role -> its addresses (internet shape: "nsd", "refused" (NSD, holding none of the
    # zones delegated there), "pdns", "drop", "slow", "servfail"); the scenario lab: NSD only
    servers: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def server_ips(self) -> dict[str, tuple[str, ...]]:
        return self.servers or {"nsd": self.net.nsd_ips}

    def zone_of(self, name: str) -> str:
        """The lab zone holding ``name`` (the closest enclosing domain), '' when none does."""
        labels = name.rstrip(".").split(".")
        for i in range(len(labels) - 1):
            cand = ".".join(labels[i:])
            if cand in self.domain_index:
                return cand
        return ""

    def ns_ips(self, ns: str) -> tuple[str, ...]:
        return self.ns_addresses.get(ns, ())

    def registered(self, name: str) -> str:
        """The registered domain of a lab name, by construction: one label below the public
        suffix (the lab's multi-label suffixes, else the TLD); '' for a suffix itself. Names
        outside the lab's TLDs follow the PSL's implicit rule (``127.0.0.1`` -> ``0.1``)."""
        if not self.suffixes:
            labels = name.rstrip(".").split(".")
            return ".".join(labels[-2:]) if len(labels) > 1 else ""
        labels = name.rstrip(".").lower().split(".")
        for suffix in self.suffixes:
            n = suffix.count(".") + 1
            if labels[-n:] == suffix.split("."):
                return ".".join(labels[-n - 1:]) if len(labels) > n else ""
        return ".".join(labels[-2:]) if len(labels) > 1 else ""

    @cached_property
    def domain_index(self) -> dict[str, Domain]:
        return {d.name: d for d in self.domains}

    def domain(self, name: str) -> Domain:
        return self.domain_index[name]


def _label(rng: random.Random, used: set[str], prefix: str) -> str:
    while True:
        name = f"{prefix}{rng.randrange(10**6):06d}"
        if name not in used:
            used.add(name)
            return name


def build_plan(n_domains: int, seed: int, slot: int = 0) -> Plan:
    """The scenario lab's plan: ``n_domains`` second-level domains spread over scenarios, hosters
    and management shapes (lab.shapes.build_plan picks a plan by shape)."""
    if n_domains < 100:
        raise ValueError(f"a lab needs at least 100 domains, got {n_domains}")
    rng = random.Random(seed)
    net = Net(slot)
    used: set[str] = set()
    hosts: dict[str, MxHost] = {}
    domains: list[Domain] = []
    ip_index = 0

    def next_ip() -> str:
        nonlocal ip_index
        ip = net.mail_ip(ip_index)
        ip_index += 1
        return ip

    def ns_for(name: str, shape: str, i: int) -> tuple[str, ...]:
        if shape == "SSDS":
            return (f"ns1.{name}", f"ns2.{name}")
        op = DNS_OPERATORS[i % len(DNS_OPERATORS)]
        return (f"ns1.{op}", f"ns2.{op}")

    # Infrastructure: hosters and DNS operators are domains of the lab too.
    infra: list[str] = []
    for hoster in HOSTER_SLOTS:
        ips = net.hoster_ips(hoster)
        hoster_scen = sc.HOSTER_SCENARIO.get(hoster, "")
        mx_names = (f"mx1.{hoster}", f"mx2.{hoster}")[: len(ips)]
        for mx_name, ip in zip(mx_names, ips, strict=True):
            hosts[mx_name] = MxHost(mx_name, hoster, hoster_scen, (ip,), shared_cert=hoster)
        domains.append(Domain(hoster, hoster.rsplit(".", 1)[1], hoster_scen or "no-tlsa", "SSDS",
                              tuple((10 * (k + 1), m) for k, m in enumerate(mx_names)), False,
                              (f"ns1.{hoster}", f"ns2.{hoster}"), True, True, False, hoster))
        infra.append(hoster)
    for op in DNS_OPERATORS:
        domains.append(Domain(op, op.rsplit(".", 1)[1], "no-tlsa", "SSDS",
                              ((10, f"mx1.{NO_DANE_HOSTER}"),), False,
                              (f"ns1.{op}", f"ns2.{op}"), True, True, False))
        infra.append(op)
    used.update(h.split(".")[0] for h in infra)

    # Self-managed scenario instances: every static and rollover scenario, k times each; the
    # rollover edge cases once each (they keep the lab's cost flat).
    k = max(2, n_domains // 250)
    self_scenarios = [s.id for s in sc.STATIC] + [sc.MULTI_MX] + [s.id for s in sc.ROLLOVERS]
    self_scenarios += [s.id for s in sc.EDGE_ROLLOVERS]
    edges = {s.id for s in sc.EDGE_ROLLOVERS}
    i = 0
    for scen_id in self_scenarios:
        # consecutive instances go to consecutive TLDs (tld = TLDS[i % len(TLDS)] below)
        copies = max(k, len(TLDS)) if scen_id in PER_TLD_SCENARIOS else 1 if scen_id in edges else k
        for _ in range(copies):
            tld = TLDS[i % len(TLDS)]
            shape = "SSDS" if i % 2 == 0 else "SSDO"
            name = f"{_label(rng, used, 'self')}.{tld}"
            scen = sc.ALL.get(scen_id)
            signed, ds, ds_bad = True, True, False
            mx: tuple[tuple[int, str], ...]
            if scen_id == sc.MULTI_MX:
                good, bad = f"mx1.{name}", f"mx2.{name}"
                hosts[good] = MxHost(good, name, "valid-311", (next_ip(),))
                hosts[bad] = MxHost(bad, name, "no-match", (next_ip(),))
                mx = ((10, good), (20, bad))
            elif scen_id == "mx-no-address":
                mxn = f"mail.{name}"
                hosts[mxn] = MxHost(mxn, name, scen_id, ())  # TLSA, no address record
                mx = ((10, mxn),)
            elif scen_id == "implicit-mx":
                hosts[name] = MxHost(name, name, scen_id, (next_ip(),))
                mx = ()
            elif scen_id == "mx-cname":
                alias, target = f"mail.{name}", f"smtp.{name}"
                hosts[alias] = MxHost(alias, name, scen_id, (next_ip(),), cname_target=target)
                mx = ((10, alias),)
            elif scen_id == "insecure-mx":
                # the domain is unsigned and hosted at a signed hoster zone of its own
                hoster_zone = f"{_label(rng, used, 'smallhost')}.{tld}"
                mxn = f"mx.{hoster_zone}"
                hosts[mxn] = MxHost(mxn, hoster_zone, scen_id, (next_ip(),))
                domains.append(Domain(hoster_zone, tld, "no-tlsa", shape, ((10, mxn),), False,
                                      ns_for(hoster_zone, shape, i), True, True, False))
                mx = ((10, mxn),)
                signed, ds = False, False
            else:
                mxn = f"mail.{name}"
                # several addresses: listed in text order (Scenario.addresses, by position)
                ips = tuple(sorted(next_ip() for _ in range(scen.addresses if scen else 1)))
                hosts[mxn] = MxHost(mxn, name, scen_id, ips)
                mx = ((10, mxn),)
            if scen is not None and scen.dnssec in ("missing-ds",):
                ds = False
            if scen is not None and scen.dnssec == "unsigned":
                signed, ds = False, False
            if scen is not None and scen.dnssec == "ds-mismatch":
                ds_bad = True
            domains.append(Domain(name, tld, scen_id, shape, mx, False, ns_for(name, shape, i),
                                  signed, ds, ds_bad))
            i += 1

    # The bulk: customers of the hosters, domains without DANE, null MX.
    remaining = max(0, n_domains - len(domains))  # the smallest labs hold every scenario
    mix = (("bighost.net", 30), ("perhost.net", 10), ("megamail.org", 8),
           ("no-tlsa", 25), ("no-tlsa-unsigned", 22), ("null-mx", 5), ("no-mail", 1))
    total_w = sum(w for _, w in mix)
    plan_counts = [(kind, remaining * w // total_w) for kind, w in mix]
    plan_counts[0] = (plan_counts[0][0], plan_counts[0][1] + remaining - sum(c for _, c in plan_counts))
    for kind, count in plan_counts:
        for _ in range(count):
            tld = TLDS[i % len(TLDS)]
            name = f"{_label(rng, used, 'd')}.{tld}"
            ns = ns_for(name, "SSDO" if i % 5 else "SSDS", i)
            if kind == "bighost.net":
                mx = ((10, "mx1.bighost.net"), (20, "mx2.bighost.net"))
                domains.append(Domain(name, tld, "valid-311", "SO", mx, False, ns,
                                      i % 3 != 0, i % 3 != 0, False, kind))
            elif kind == "megamail.org":
                domains.append(Domain(name, tld, "valid-211", "SO", ((10, "mx1.megamail.org"),),
                                      False, ns, True, True, False, kind))
            elif kind == "perhost.net":
                mxn = f"{name.replace('.', '-')}.mx.perhost.net"
                hosts[mxn] = MxHost(mxn, "perhost.net", "valid-311", net.hoster_ips("perhost.net"),
                                    shared_cert="perhost.net")
                domains.append(Domain(name, tld, "valid-311", "SO", ((10, mxn),), False, ns,
                                      True, True, False, kind))
            elif kind == "null-mx":
                domains.append(Domain(name, tld, "null-mx", "none", (), True, ns, True, True, False))
            elif kind == "no-mail":
                # neither MX nor address: no mail service at all (RFC 5321 5.1), no MX host
                domains.append(Domain(name, tld, "no-mail", "none", (), False, ns, True, True,
                                      False))
            else:
                signed = kind == "no-tlsa"
                domains.append(Domain(name, tld, kind, "none", ((10, f"mx1.{NO_DANE_HOSTER}"),),
                                      False, ns, signed, signed, False, NO_DANE_HOSTER))
            i += 1
    ns_addresses: dict[str, tuple[str, ...]] = {ns: (net.ns_ip(ns),) for d in domains
                                                for ns in d.ns}
    return Plan(seed, net, tuple(domains), hosts, tuple(infra), ns_addresses=ns_addresses)
