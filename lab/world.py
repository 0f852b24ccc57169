"""The lab's state at one hour: zone records, mail-server certificates and TLSA data.

Pure (no I/O): computed from the plan, the seed and the hour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from lab import plan as pl
from lab import scenarios as sc
from lab.pki import Authorities, Issued, Presented, make_authorities, present
from lab.signer import Record
from lab.tlsadata import tlsa_bytes

SOA_TIMERS = "3600 900 604800 300"


@dataclass(frozen=True)
class HostState:
    host: pl.MxHost
    scenario: sc.Scenario | None
    presented: Presented | None  # None: no server certificate (no TLSA host without TLS)
    tlsa: tuple[tuple[int, int, int, bytes], ...]
    tlsa_ttl: int
    smtp: str
    # what each address presents (None: nothing listens there this hour); empty: every address
    # presents ``presented``. ``presented`` is then the chain of the address whose verdict is the
    # host's (the first failing address in text order, else the first).
    per_ip: tuple[tuple[str, Presented | None], ...] = ()

    def by_address(self) -> tuple[tuple[str, Presented | None], ...]:
        return self.per_ip or tuple((ip, self.presented) for ip in self.host.ips)


@dataclass
class World:
    plan: pl.Plan
    hour: int
    cas: Authorities = field(init=False)

    def __post_init__(self) -> None:
        self.cas = make_authorities(self.plan.seed)

    def cert_names(self, host: pl.MxHost) -> tuple[str, ...]:
        if host.shared_cert == "perhost.net":
            return ("*.mx.perhost.net", "mx.perhost.net")
        if host.shared_cert:
            return tuple(h for h in (f"mx1.{host.shared_cert}", f"mx2.{host.shared_cert}"))
        if host.cname_target:
            return (host.cname_target, host.name)
        return (host.name,)

    def _key_label(self, host: pl.MxHost) -> str:
        return host.shared_cert or host.tlsa_host

    def host_state(self, host: pl.MxHost) -> HostState:
        return self._host_states[host.name]

    @cached_property
    def _host_states(self) -> dict[str, HostState]:
        out: dict[str, HostState] = {}
        shared: dict[str, HostState] = {}
        for host in self.plan.hosts.values():
            if host.shared_cert and host.shared_cert in shared:
                base = shared[host.shared_cert]
                out[host.name] = HostState(host, base.scenario, base.presented, base.tlsa,
                                           base.tlsa_ttl, base.smtp)
                continue
            out[host.name] = self._compute(host)
            if host.shared_cert:
                shared[host.shared_cert] = out[host.name]
        return out

    def _compute(self, host: pl.MxHost) -> HostState:
        scen = sc.ALL.get(host.scenario)
        names = self.cert_names(host)
        label = self._key_label(host)
        seed = self.plan.seed
        if scen is None and not host.listen:  # no mail server at all (not probed: no TLSA)
            return HostState(host, None, None, (), 3600, "none")
        if scen is None:  # a mail host without DANE: self-signed certificate, no TLSA
            return HostState(host, None, present(seed, self.cas, "self", names, label, 0), (),
                             3600, "ok")
        state = scen.state(self.hour)
        presented = present(seed, self.cas, state.profile, names, label, state.key_gen,
                            state.cert_gen)

        def leaf_of_gen(gen: int, cert_gen: int) -> Issued:
            return present(seed, self.cas, state.profile, names, label, gen, cert_gen).leaf

        records = tuple(tlsa_bytes(t, presented, self.cas, leaf_of_gen, host.tlsa_host)
                        for t in state.tlsa)
        ttl = scen.ttl(self.hour)
        if scen.addresses == 1 and not state.down:
            return HostState(host, scen, presented, records, ttl, scen.smtp)
        per_ip = tuple((ip, None if pos in state.down else
                        present(seed, self.cas, state.profile, names, label, state.key_at(pos),
                                state.cert_gen))
                       for pos, ip in enumerate(host.ips))
        expects = scen.address_expectations(self.hour)
        pos = next((i for i, e in enumerate(expects) if not e.valid), 0)
        host_chain = per_ip[pos][1] if pos < len(per_ip) else None
        return HostState(host, scen, host_chain, records, ttl,
                         scen.smtp if host_chain is not None else "none", per_ip)

    # ---- zones -------------------------------------------------------------------------------

    def _soa(self, zone: str) -> Record:
        return (zone, 3600, "SOA", f"ns1.nic.{zone.rstrip('.').rsplit('.', 1)[-1]}. "
                f"hostmaster.{zone} {1000 + self.hour} {SOA_TIMERS}")

    def sld_records(self, domain: pl.Domain) -> list[Record]:
        z = f"{domain.name}."
        recs: list[Record] = [self._soa(z)]
        recs += [(z, 3600, "NS", f"{ns}.") for ns in domain.ns]
        for ns in self.ns_by_zone.get(domain.name, ()):
            recs += [(f"{ns}.", 3600, "A", ip) for ip in self.plan.ns_ips(ns)]
        if domain.null_mx:
            recs.append((z, 3600, "MX", "0 ."))
        for pref, mx in domain.mx:
            recs.append((z, 3600, "MX", f"{pref} {mx}."))
        for host in self.hosts_by_zone.get(domain.name, ()):
            recs += self.host_records(host)
        return recs

    @cached_property
    def ns_by_zone(self) -> dict[str, list[str]]:
        """Name server names whose address records a zone holds."""
        out: dict[str, list[str]] = {}
        for ns in self.plan.ns_addresses:
            zone = self.plan.zone_of(ns)
            if zone:
                out.setdefault(zone, []).append(ns)
        return out

    @cached_property
    def hosts_by_zone(self) -> dict[str, list[pl.MxHost]]:
        out: dict[str, list[pl.MxHost]] = {}
        for host in self.plan.hosts.values():
            out.setdefault(host.zone, []).append(host)
        return out

    def host_records(self, host: pl.MxHost) -> list[Record]:
        st = self.host_state(host)
        recs: list[Record] = []
        if host.cname_target:
            recs.append((f"{host.name}.", 3600, "CNAME", f"{host.cname_target}."))
        target = f"{host.tlsa_host}."
        recs += [(target, 3600, "A", ip) for ip in host.ips]
        recs += [(target, 3600, "AAAA", ip) for ip in host.ipv6]
        for usage, selector, mtype, data in st.tlsa:
            recs.append((f"_25._tcp.{target}", st.tlsa_ttl, "TLSA",
                         f"{usage} {selector} {mtype} {data.hex() or '00'}"))
        return recs

    def tld_records(self, tld: str, ds_of: dict[str, str]) -> list[Record]:
        z = f"{tld}."
        recs: list[Record] = [self._soa(z), (z, 3600, "NS", f"ns1.nic.{tld}."),
                              (f"ns1.nic.{tld}.", 3600, "A", self.plan.net.tld_ns)]
        if tld == "net":
            recs.append(("a.root.nic.net.", 3600, "A", self.plan.net.root_ns))
        for d in self.plan.domains:
            if d.tld != tld:
                continue
            owner = f"{d.name}."
            recs += [(owner, 86400, "NS", f"{ns}.") for ns in d.ns]
            for ns in d.ns:
                if ns.endswith(f".{d.name}"):  # glue
                    recs += [(f"{ns}.", 86400, "A", ip) for ip in self.plan.ns_ips(ns)]
            if d.ds_in_parent and d.name in ds_of:
                recs.append((owner, 86400, "DS", ds_of[d.name]))
        return recs

    def root_records(self, ds_of: dict[str, str]) -> list[Record]:
        recs: list[Record] = [
            (".", 86400, "SOA", f"a.root.nic.net. hostmaster.nic.net. {1000 + self.hour} "
             f"{SOA_TIMERS}"),
            (".", 86400, "NS", "a.root.nic.net."),
            ("a.root.nic.net.", 86400, "A", self.plan.net.root_ns),
        ]
        for tld in pl.TLDS:
            recs += [(f"{tld}.", 86400, "NS", f"ns1.nic.{tld}."),
                     (f"ns1.nic.{tld}.", 86400, "A", self.plan.net.tld_ns),
                     (f"{tld}.", 86400, "DS", ds_of[tld])]
        return recs

    def tlsa_breakage(self, domain: pl.Domain) -> str:
        scen = sc.ALL.get(domain.scenario)
        if scen is not None and scen.dnssec in ("expired", "not-yet-valid", "bad-signature",
                                                "missing-rrsig"):
            return scen.dnssec
        return ""

    # ---- mail servers ------------------------------------------------------------------------

    def smtp_listeners(self) -> dict[str, tuple[str, dict[str, Presented]]]:
        """ip -> (behaviour, {sni name or "*": presented chain})."""
        out: dict[str, tuple[str, dict[str, Presented]]] = {}
        for host in self.plan.hosts.values():
            st = self.host_state(host)
            behaviour = st.scenario.smtp if st.scenario else st.smtp
            if behaviour == "none":
                continue
            for ip, presented in st.by_address():
                if presented is None:
                    continue  # no server certificate, or down this hour: nothing listens there
                _behaviour, certs = out.setdefault(ip, (behaviour, {}))
                certs.setdefault("*", presented)
                certs[host.tlsa_host] = presented
                if host.cname_target:
                    certs[host.name] = presented
        return out
