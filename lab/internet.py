"""The Internet-shaped lab: a plan shaped like .com/.net/.org/.se, not like a test matrix.

Pure and deterministic (same seed and size, same plan). Most zones are unsigned and served by
PowerDNS from a database; the signed minority (DANE hosters, DANE domains, a few per cent of the
rest) is served pre-signed by NSD. Mail hosting is heavy-tailed; a few per cent of delegations are
broken the ways real ones are. Every share below is a default with its source; lab/TRUTH.md
("The Internet-shaped lab") lists them.

Sources: [P] the seed paper (Lee et al., "Under the Hood of DANE Mismanagement in SMTP"), Table 1
and section 4.2 (Feb 2021): domains with MX that have TLSA: .com 0.97 %, .se 41.57 %, .net/.org
under 1 %; one DANE hoster serves over 600,000 domains; 22 % of .com DANE SMTP servers invalid
but 0.51 % of DANE domains (outsourced hosters are right 99 %, self-managed invalid over 30 %);
[P, citing its ref. 12] 30 % of .com/.net/.org domains with DNSKEY have no DS; [P, citing its
ref. 36] 15 % of TLSA servers not DNSSEC-protected, 20 % of signed ones missing the DS.
[I] the project's issues 12 and 13 (the failure rates of the world measured there: 2 % lame
delegations, 1 % name servers answering REFUSED, 1 % slow, 0.5 % name servers that do not
resolve). Shares of signed SLDs: about 5 % in the gTLDs and about half in .se, as registries
report them [I]; the rest (MX shares, provider tails) are the lab's choices, stated as such.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from lab import plan as pl

MIN_DOMAINS = 1000


@dataclass(frozen=True)
class TldMix:
    share: float  # of all second-level domains of the lab (lab's choice: enough .se to see DANE)
    mx: float  # with an MX RRset naming hosts (lab's choice)
    null_mx: float  # RFC 7505 null MX (lab's choice)
    implicit: float  # no MX, an address at the apex (lab's choice); the rest: no mail at all
    signed: float  # with DNSKEY [I]
    tlsa: float  # of MX domains, with a TLSA MX host [P Table 1]


MIX: dict[str, TldMix] = {
    "com": TldMix(0.70, 0.62, 0.005, 0.26, 0.05, 0.0097),
    "net": TldMix(0.10, 0.60, 0.005, 0.27, 0.05, 0.008),
    "org": TldMix(0.10, 0.62, 0.005, 0.26, 0.06, 0.008),
    "se": TldMix(0.10, 0.70, 0.005, 0.20, 0.50, 0.4157),
}
MISSING_DS = 0.30  # signed domains (no TLSA) without DS at the parent [P ref. 12]

# DNS faults of unsigned domains without TLSA, per domain [I]: "-all" breaks every NS of the
# delegation (the lookup fails), "-one" one of two (the resolver falls back to the other).
FAULTS: dict[str, float] = {
    "lame-all": 0.010, "lame-one": 0.010,  # 2 % lame: addresses that drop queries
    "refused-all": 0.005, "refused-one": 0.005,  # 1 % answering REFUSED
    "slow": 0.010,  # 1 % answering after 1 to 3 s
    "gone-all": 0.0025, "gone-one": 0.0025,  # 0.5 % NS names that do not resolve
    "servfail-all": 0.003,  # name servers answering SERVFAIL
}
FAILING_FAULTS = pl.FAILING_FAULTS
# faults of the MX RRset of domains without TLSA (lab's choice, small)
MX_FAULTS: dict[str, float] = {"mx-cname": 0.005, "mx-no-address": 0.005,
                               "mx-localhost": 0.001, "mx-literal": 0.001}

# Hosting of domains with TLSA [P 4.2: a few hosters serve most DANE domains]
TLSA_HOSTING: dict[str, float] = {
    "danehost": 0.55,  # shared MX names, one DANE hoster (one.com-like)
    "perhost": 0.10,  # a name per customer on shared addresses (the paper's Antagonist case)
    "dane-tail": 0.15,  # 30 smaller DANE hosters, Zipf-distributed
    "self": 0.15,  # self-managed, scenarios as the paper found them
    "mixed-out-self": 0.03,  # MX set: the hoster and a self-managed host
    "mixed-tlsa-plain": 0.02,  # MX set: a self-managed TLSA host and a host without TLSA
}
# Self-managed DANE hosts: over 30 % invalid [P]; the failures spread over the paper's reasons
SELF_SCENARIOS: dict[str, float] = {
    "valid-311": 0.55, "valid-211": 0.05, "valid-301": 0.03, "pkix-ee": 0.02,
    "no-match": 0.10, "matches-old-cert": 0.04, "missing-ds": 0.06, "unsigned-tlsa": 0.03,
    "bogus-expired": 0.02, "bogus-ds-mismatch": 0.01, "no-starttls": 0.02,
    "handshake-fail": 0.01, "nothing-listening": 0.02, "wrong-usage": 0.01,
    "rollover-current-next": 0.015, "rollover-same-time": 0.015,
}
# Hosting of domains with MX and no TLSA (lab's choice; heavy-tailed)
PLAIN_HOSTING: dict[str, float] = {
    "bigmail": 0.25,  # shared names of one giant
    "protect": 0.12,  # a name per customer on 4 shared addresses
    "tail": 0.37,  # 300 providers, Zipf-distributed
    "self": 0.25,  # mail.<domain>, on shared-hosting addresses (about 20 names each)
    "suffix": 0.01,  # under multi-label public suffixes (pp.se, herokuapp.com)
}
SELF_V6 = {"dual": 0.05, "v6only": 0.01}  # self-hosted mail hosts with AAAA ::1

SUFFIXES = ("pp.se", "org.se", "herokuapp.com")  # ICANN (.se) and private-section suffixes
PLAIN_OPERATORS = 15  # unsigned DNS operators (PowerDNS), Zipf-distributed
DANE_TAIL = 30
PLAIN_TAIL = 300
THRESHOLD_SIZES = (49, 50, 51)  # around methodology.md's outsourcing threshold of 50
SUFFIX_DANE = 60  # DANE domains whose MX (or NS) names sit under a multi-label suffix


def _zipf_weights(n: int, s: float = 1.1) -> list[float]:
    return [1.0 / (k ** s) for k in range(1, n + 1)]


class _Builder:
    def __init__(self, n: int, seed: int, slot: int, faults: bool = True) -> None:
        self.n = n
        self.seed = seed
        self.faults = faults  # False: no name server faults (FAULTS), all else the same
        self.rng = random.Random(seed * 7919 + 1)
        self.net = pl.Net(slot)
        self.hosts: dict[str, pl.MxHost] = {}
        self.domains: list[pl.Domain] = []
        self.infra: list[str] = []
        self.ns_addresses: dict[str, tuple[str, ...]] = {}
        self.used: set[str] = set()
        self.ip_index = 0
        d = self.net.dns
        self.servers: dict[str, tuple[str, ...]] = {
            "nsd": (self.net.root_ns, self.net.tld_ns,
                    *(f"127.{d}.1.{k}" for k in range(1, 11)), *self.net.self_ns),
            "refused": (f"127.{d}.3.1", f"127.{d}.3.2"),
            "pdns": (*(f"127.{d}.4.{k}" for k in range(1, 2 * PLAIN_OPERATORS + 1)),
                     f"127.{d}.5.1", f"127.{d}.5.2"),
            "drop": (f"127.{d}.6.1", f"127.{d}.6.2"),
            "slow": (f"127.{d}.7.1", f"127.{d}.7.2"),
        }
        self.pdns_self = (self.servers["pdns"][-2], self.servers["pdns"][-1])
        self.nsd_pool = iter(range(3, 11))  # 127.D.1.k pairs for signed operators (1, 2: secdns)
        self.ops_plain: list[str] = []
        self.ops_plain_w: list[float] = []

    # ---- helpers -------------------------------------------------------------------------

    def ip(self) -> str:
        ip = self.net.mail_ip(self.ip_index)
        self.ip_index += 1
        return ip

    def label(self, prefix: str) -> str:
        return pl._label(self.rng, self.used, prefix)

    def operator(self, name: str, ips: tuple[str, str], ns: tuple[str, ...] | None = None,
                 signed: bool = False) -> None:
        """A DNS operator's zone; its ns1/ns2 names point at ``ips``; the zone itself is served
        by its own names, or by ``ns`` (operators whose addresses are fault injectors)."""
        self.ns_addresses[f"ns1.{name}"] = (ips[0],)
        self.ns_addresses[f"ns2.{name}"] = (ips[1],)
        self.infra_domain(name, ns or (f"ns1.{name}", f"ns2.{name}"), signed)

    def infra_domain(self, name: str, ns: tuple[str, ...], signed: bool,
                     mx: tuple[tuple[int, str], ...] = ()) -> None:
        tld = name.rsplit(".", 1)[1]
        self.domains.append(pl.Domain(name, tld, "infra", "none", mx, False, ns, signed, signed,
                                      False))
        self.infra.append(name)
        self.used.add(name.split(".")[0])

    def pick(self, table: dict[str, float]) -> str:
        r = self.rng.random() * sum(table.values())
        for key, w in table.items():
            r -= w
            if r < 0:
                return key
        return next(reversed(table))

    # ---- infrastructure ----------------------------------------------------------------------

    def build_infra(self) -> None:
        d = self.net.dns
        srv = self.servers
        self.operator("secdns.net", (f"127.{d}.1.1", f"127.{d}.1.2"), signed=True)
        self.operator("signdns.se", self._nsd_pair(), signed=True)
        for k in range(PLAIN_OPERATORS):
            name = f"dns{k + 1}.com" if k % 3 else f"dns{k + 1}.net"
            self.operator(name, (srv["pdns"][2 * k], srv["pdns"][2 * k + 1]))
            self.ops_plain.append(name)
        self.ops_plain_w = _zipf_weights(PLAIN_OPERATORS, 1.0)
        good = (f"ns1.{self.ops_plain[0]}", f"ns2.{self.ops_plain[0]}")
        for op, role in (("lame-dns.net", "drop"), ("refuse-dns.net", "refused"),
                         ("slow-dns.net", "slow")):
            self.operator(op, (srv[role][0], srv[role][1]), ns=good)
        # SERVFAIL from a real server: PowerDNS holds the zones delegated to fail-dns.net but
        # cannot read them (lab.pdns.break_zones)
        self.operator("fail-dns.net", (srv["pdns"][0], srv["pdns"][1]), ns=good)
        self.used.add("gone-dns")  # never delegated: its names do not resolve
        for size in THRESHOLD_SIZES:  # DNS operators serving exactly 49, 50, 51 domains (their
            # own zone is served by another operator, so it is not one of them)
            self.operator(f"n{size}.net", self._nsd_pair(), ns=("ns1.secdns.net", "ns2.secdns.net"),
                          signed=True)
        for suffix in SUFFIXES:  # public suffixes holding customer names (signed: DANE hosts)
            self.infra_domain(suffix, ("ns1.secdns.net", "ns2.secdns.net"), True)

    def _nsd_pair(self) -> tuple[str, str]:
        d = self.net.dns
        a, b = next(self.nsd_pool), next(self.nsd_pool)
        return f"127.{d}.1.{a}", f"127.{d}.1.{b}"

    def hoster(self, name: str, scenario: str, n_names: int, n_ips: int, signed: bool,
               listen: bool, own_mx: bool = True) -> tuple[tuple[int, str], ...]:
        """A mail hoster with shared MX names; returns its MX set. ``own_mx``: the hoster's own
        domain uses it too (not for the threshold hosters: their counts are exact)."""
        ips = tuple(self.ip() for _ in range(n_ips))
        mx = []
        for k in range(n_names):
            host = f"mx{k + 1}.{name}"
            self.hosts[host] = pl.MxHost(host, name, scenario, (ips[k % n_ips],),
                                         shared_cert=name if scenario else "", listen=listen)
            mx.append((10 * (k + 1), host))
        ns = (f"ns1.{name}", f"ns2.{name}") if signed else self.plain_ns(name)
        if signed:
            self.ns_addresses[f"ns1.{name}"] = (self.net.self_ns[0],)
            self.ns_addresses[f"ns2.{name}"] = (self.net.self_ns[1],)
        self.infra_domain(name, ns, signed, mx=tuple(mx[:1]) if own_mx else ())
        return tuple(mx)

    def plain_ns(self, name: str) -> tuple[str, ...]:
        op = self.rng.choices(self.ops_plain, self.ops_plain_w)[0]
        return (f"ns1.{op}", f"ns2.{op}")

    # ---- domains -----------------------------------------------------------------------------

    def build(self) -> pl.Plan:
        self.build_infra()
        rng = self.rng
        dane_hoster = self.hoster("danehost.net", "valid-311", 2, 2, True, True)
        per_ips = tuple(self.ip() for _ in range(2))
        tail_names = [f"danemail{k + 1}.{('net', 'se', 'com')[k % 3]}" for k in range(DANE_TAIL)]
        # the tail's third and seventh hosters publish records that do not match (stale TLSA)
        tail_mx = [self.hoster(h, "no-match" if k in (2, 6) else "valid-311", 2, 1, True, True)
                   for k, h in enumerate(tail_names)]
        tail_w = _zipf_weights(DANE_TAIL)
        self.infra_domain("perhost.net", ("ns1.secdns.net", "ns2.secdns.net"), True)
        big = self.hoster("bigmail.com", "", 4, 4, False, False)
        protect_ips = tuple(self.ip() for _ in range(4))
        self.infra_domain("protect.net", self.plain_ns("protect.net"), False)
        plain_tail = [self.hoster(f"mailprov{k + 1}.{('com', 'net', 'org')[k % 3]}", "", 2, 2,
                                  False, False) for k in range(PLAIN_TAIL)]
        plain_w = _zipf_weights(PLAIN_TAIL)
        shared_hosting: list[str] = []  # addresses of self-hosted mail without DANE

        # the fixed cases around the thresholds and under multi-label suffixes
        fixed: list[Callable[[str, str], tuple[tuple[tuple[int, str], ...], tuple[str, ...]]]] = []
        for size in THRESHOLD_SIZES:
            mx = self.hoster(f"t{size}.net", "valid-311", 1, 1, True, True, own_mx=False)
            fixed += [partial(self._hosted, mx=mx)] * size
            ip = self.ip()
            hoster = f"p{size}.net"
            self.infra_domain(hoster, ("ns1.secdns.net", "ns2.secdns.net"), True)

            def per_ip(name: str, tld: str, hoster: str = hoster, ip: str = ip
                       ) -> tuple[tuple[tuple[int, str], ...], tuple[str, ...]]:
                host = f"{name.replace('.', '-')}.mx.{hoster}"
                self.hosts[host] = pl.MxHost(host, hoster, "valid-311", (ip,), shared_cert=hoster)
                return ((10, host),), self.signed_ns(name)
            fixed += [per_ip] * size
            fixed += [partial(self._self_at, op=f"n{size}.net")] * size
        suffix_ips = (self.ip(), self.ip())
        for i in range(SUFFIX_DANE):
            def under_pp(name: str, tld: str, i: int = i
                         ) -> tuple[tuple[tuple[int, str], ...], tuple[str, ...]]:
                host = f"mx.{self.label('c')}.pp.se"
                self.hosts[host] = pl.MxHost(host, "pp.se", "valid-311", (self.ip(),))
                return ((10, host),), self.signed_ns(name)

            def under_heroku(name: str, tld: str, i: int = i
                             ) -> tuple[tuple[tuple[int, str], ...], tuple[str, ...]]:
                host = f"mail.{self.label('app')}.herokuapp.com"
                self.hosts[host] = pl.MxHost(host, "herokuapp.com", "valid-311",
                                             (suffix_ips[i % 2],), shared_cert="herokuapp.com")
                return ((10, host),), self.signed_ns(name)

            def ns_under_org_se(name: str, tld: str
                                ) -> tuple[tuple[tuple[int, str], ...], tuple[str, ...]]:
                ns = f"ns1.{self.label('dns')}.org.se"
                self.ns_addresses[ns] = (self.net.self_ns[0],)
                return self.self_tlsa(name, "valid-311"), (ns,)
            fixed += [under_pp, under_heroku, ns_under_org_se]

        n_fixed = len(fixed) if self.n >= 5000 else 0
        remaining = max(0, self.n - len(self.domains) - n_fixed)
        tlds = list(MIX)
        tld_w = [MIX[t].share for t in tlds]
        for j in range(remaining + n_fixed):
            if j < n_fixed:
                tld = ("com", "net", "se")[j % 3]
                name = f"{self.label('d')}.{tld}"
                mx, ns = fixed[j](name, tld)
                self.domains.append(pl.Domain(name, tld, "edge-case", "self", mx, False, ns,
                                              True, True, False))
                continue
            tld = rng.choices(tlds, tld_w)[0]
            mix = MIX[tld]
            name = f"{self.label('d')}.{tld}"
            r = rng.random()
            if r < mix.mx:
                if rng.random() < mix.tlsa:
                    self.tlsa_domain(name, tld, dane_hoster, per_ips, tail_mx, tail_w)
                else:
                    self.plain_domain(name, tld, mix, big, protect_ips, plain_tail, plain_w,
                                      shared_hosting)
                continue
            r -= mix.mx
            kind = ("null-mx" if r < mix.null_mx else
                    "implicit-mx" if r < mix.null_mx + mix.implicit else "no-mail")
            signed = rng.random() < mix.signed
            fault = "" if signed else self.pick_fault()
            ns = self.signed_ns(name) if signed else self.faulty_ns(name, fault)
            fault = fault if self.faults else ""
            if kind == "implicit-mx":  # the domain is its own mail host (RFC 5321 5.1)
                self.hosts[name] = pl.MxHost(name, name, "", (self.shared_ip(shared_hosting),),
                                             listen=False)
            ds = signed and rng.random() >= MISSING_DS
            self.domains.append(pl.Domain(name, tld, fault or kind, "none", (), kind == "null-mx",
                                          ns, signed, ds, False, fault=fault))
        return pl.Plan(self.seed, self.net, tuple(self.domains), self.hosts, tuple(self.infra),
                       shape="internet", ns_addresses=self.ns_addresses, suffixes=SUFFIXES,
                       servers=self.servers)

    def _hosted(self, name: str, tld: str, mx: tuple[tuple[int, str], ...]
                ) -> tuple[tuple[tuple[int, str], ...], tuple[str, ...]]:
        return mx, self.signed_ns(name)

    def _self_at(self, name: str, tld: str, op: str
                 ) -> tuple[tuple[tuple[int, str], ...], tuple[str, ...]]:
        return self.self_tlsa(name, "valid-311"), (f"ns1.{op}", f"ns2.{op}")

    def signed_ns(self, name: str) -> tuple[str, ...]:
        r = self.rng.random()
        if r < 0.6:
            return ("ns1.secdns.net", "ns2.secdns.net")
        if r < 0.9:
            return ("ns1.signdns.se", "ns2.signdns.se")
        if r < 0.97:
            return self.own_ns(name, self.net.self_ns)
        return ("ns1.secdns.net", *self.own_ns(name, self.net.self_ns)[:1])  # a mixed NS set

    def own_ns(self, name: str, ips: tuple[str, str]) -> tuple[str, str]:
        ns = (f"ns1.{name}", f"ns2.{name}")
        self.ns_addresses[ns[0]], self.ns_addresses[ns[1]] = (ips[0],), (ips[1],)
        return ns

    def shared_ip(self, pool: list[str]) -> str:
        """An address of a shared web/mail host: about 20 names each."""
        if not pool or self.rng.random() < 0.05:
            pool.append(self.ip())
        return self.rng.choice(pool[-50:])

    def self_tlsa(self, name: str, scenario: str) -> tuple[tuple[int, str], ...]:
        host = f"mail.{name}"
        self.hosts[host] = pl.MxHost(host, name, scenario, (self.ip(),))
        return ((10, host),)

    def tlsa_domain(self, name: str, tld: str, dane_hoster: tuple[tuple[int, str], ...],
                    per_ips: tuple[str, ...], tail_mx: list[tuple[tuple[int, str], ...]],
                    tail_w: list[float]) -> None:
        rng = self.rng
        how = self.pick(TLSA_HOSTING)
        signed, ds, ds_bad, scen = True, True, False, "hosted"
        ns = self.signed_ns(name)
        if how == "danehost":
            mx = dane_hoster
            ns = ("ns1.danehost.net", "ns2.danehost.net") if rng.random() < 0.8 else ns
            if rng.random() < 0.05:  # the customer's own zone unsigned: its MX RRset insecure
                signed, ds, ns = False, False, self.plain_ns(name)
        elif how == "perhost":
            host = f"{name.replace('.', '-')}.mx.perhost.net"
            self.hosts[host] = pl.MxHost(host, "perhost.net", "valid-311", per_ips,
                                         shared_cert="perhost.net")
            mx = ((10, host),)
        elif how == "dane-tail":
            mx = rng.choices(tail_mx, tail_w)[0]
        elif how == "self":
            scen = self.pick(SELF_SCENARIOS)
            mx = self.self_tlsa(name, scen)
            if scen == "missing-ds":
                ds = False
            elif scen == "unsigned-tlsa":
                signed = ds = False
                ns = self.plain_ns(name) if rng.random() < 0.5 else self.own_ns(
                    name, self.pdns_self)
            elif scen == "bogus-ds-mismatch":
                ds_bad = True
        elif how == "mixed-out-self":
            mx = (dane_hoster[0], (20, f"mail.{name}"))
            self.hosts[f"mail.{name}"] = pl.MxHost(f"mail.{name}", name, "valid-311",
                                                   (self.ip(),))
        else:  # mixed-tlsa-plain: a DANE host and a backup without TLSA
            backup = f"backup.{name}"
            self.hosts[backup] = pl.MxHost(backup, name, "", (self.ip(),), listen=False)
            mx = (*self.self_tlsa(name, "valid-311"), (20, backup))
        shape = "SO" if how in ("danehost", "perhost", "dane-tail") else "self"
        self.domains.append(pl.Domain(name, tld, scen if how == "self" else how, shape, mx, False,
                                      ns, signed, ds, ds_bad))

    def plain_domain(self, name: str, tld: str, mix: TldMix,
                     big: tuple[tuple[int, str], ...], protect_ips: tuple[str, ...],
                     plain_tail: list[tuple[tuple[int, str], ...]], plain_w: list[float],
                     shared_hosting: list[str]) -> None:
        rng = self.rng
        signed = rng.random() < (mix.signed - mix.tlsa * mix.mx) / (1 - mix.tlsa * mix.mx)
        ds = signed and rng.random() >= MISSING_DS
        fault = ""
        if signed:
            ns = self.signed_ns(name)
        else:
            fault = self.pick_fault()
            ns = self.faulty_ns(name, fault)
            fault = fault if self.faults else ""
        mx_fault = self.pick({**MX_FAULTS, "": 1 - sum(MX_FAULTS.values())})
        scen = fault or mx_fault or "plain"
        if mx_fault == "mx-localhost":
            self.hosts.setdefault("localhost", pl.MxHost("localhost", "", "", ("127.0.0.1",),
                                                         listen=False, ipv6=("::1",),
                                                         in_lab=False))
            mx: tuple[tuple[int, str], ...] = ((10, "localhost"),)
        elif mx_fault == "mx-literal":
            self.hosts.setdefault("127.0.0.1", pl.MxHost("127.0.0.1", "", "", (), listen=False,
                                                         in_lab=False))
            mx = ((10, "127.0.0.1"),)
        elif mx_fault == "mx-cname":
            alias, target = f"mail.{name}", f"relay.{name}"
            self.hosts[alias] = pl.MxHost(alias, name, "", (self.shared_ip(shared_hosting),),
                                          cname_target=target, listen=False)
            mx = ((10, alias),)
        elif mx_fault == "mx-no-address":
            self.hosts[f"mail.{name}"] = pl.MxHost(f"mail.{name}", name, "", (), listen=False)
            mx = ((10, f"mail.{name}"),)
        else:
            how = self.pick(PLAIN_HOSTING)
            if how == "bigmail":
                mx = big
            elif how == "protect":
                host = f"{name.replace('.', '-')}.mail.protect.net"
                self.hosts[host] = pl.MxHost(host, "protect.net", "",
                                             (protect_ips[rng.randrange(4)],), listen=False)
                mx = ((10, host),)
            elif how == "tail":
                mx = rng.choices(plain_tail, plain_w)[0]
            elif how == "suffix":
                suffix = "pp.se" if rng.random() < 0.5 else "herokuapp.com"
                host = f"mx.{self.label('h')}.{suffix}"
                self.hosts[host] = pl.MxHost(host, suffix, "", (self.shared_ip(shared_hosting),),
                                             listen=False)
                mx = ((10, host),)
            else:
                v6 = self.pick({**SELF_V6, "": 1 - sum(SELF_V6.values())})
                host = f"mail.{name}"
                ips = () if v6 == "v6only" else (self.shared_ip(shared_hosting),)
                self.hosts[host] = pl.MxHost(host, name, "", ips, listen=False,
                                             ipv6=("::1",) if v6 else ())
                mx = ((10, host),)
        self.domains.append(pl.Domain(name, tld, scen, "none", mx, False, ns, signed, ds, False,
                                      fault=fault))

    def pick_fault(self) -> str:
        return self.pick({**FAULTS, "": 1 - sum(FAULTS.values())})

    def faulty_ns(self, name: str, fault: str) -> tuple[str, ...]:
        good = self.plain_ns(name)
        if fault and not self.faults:  # the lab without faults: good servers, the same draws
            return good
        if fault == "":
            r = self.rng.random()
            if r < 0.15:
                return self.own_ns(name, self.pdns_self)
            if r < 0.20:  # a mixed NS set: an operator and the domain's own server
                return (good[0], self.own_ns(name, self.pdns_self)[0])
            return good
        op = {"lame": "lame-dns.net", "refused": "refuse-dns.net", "slow": "slow-dns.net",
              "gone": "gone-dns.net", "servfail": "fail-dns.net"}[fault.split("-")[0]]
        bad = (f"ns1.{op}", f"ns2.{op}")
        if fault.endswith("-one"):
            return (good[0], bad[1])
        return bad


def build_internet_plan(n_domains: int, seed: int, slot: int = 0, faults: bool = True) -> pl.Plan:
    """``n_domains`` domains (infrastructure zones included) shaped like the Internet;
    ``faults`` False: the same domains, none of them with a name server fault (FAULTS), to
    measure what the faults cost a scan."""
    if n_domains < MIN_DOMAINS:
        raise ValueError(f"an internet-shaped lab needs at least {MIN_DOMAINS} domains, "
                         f"got {n_domains}")
    return _Builder(n_domains, seed, slot, faults).build()
