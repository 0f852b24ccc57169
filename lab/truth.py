"""The lab's ground truth: what a correct scanner must find, per domain, MX host and hour.

Pure. Written from the plan's intent (lab.scenarios), not by running the project's own checks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from typing import Any

from cryptography.hazmat.primitives import serialization

from lab import plan as pl
from lab import scenarios as sc
from lab.world import World
from workers.vocab import (
    DaneReason,
    DnssecReason,
    DnssecStatus,
    ManagementClass,
    RfcOutcome,
    RolloverOutcome,
)

BREAKAGE_REASON = {
    "expired": DnssecReason.SIGNATURE_EXPIRED,
    "not-yet-valid": DnssecReason.SIGNATURE_NOT_YET_VALID,
    "bad-signature": DnssecReason.SIGNATURE_INVALID,
    "missing-rrsig": DnssecReason.RRSIG_MISSING,
}
THRESHOLD = 50


def _st(status: DnssecStatus, reason: DnssecReason = DnssecReason.NONE) -> dict[str, str]:
    return {"status": str(status), "reason": str(reason)}


def zone_status(d: pl.Domain) -> dict[str, str]:
    if d.ds_mismatch:
        return _st(DnssecStatus.BOGUS, DnssecReason.DS_MISMATCH)
    if not d.signed:
        return _st(DnssecStatus.INSECURE, DnssecReason.UNSIGNED)
    if not d.ds_in_parent:
        return _st(DnssecStatus.INSECURE, DnssecReason.MISSING_DS)
    return _st(DnssecStatus.SECURE)


def lookup_fails(d: pl.Domain) -> bool:
    """Every name server of the delegation is broken (internet shape): the MX lookup fails."""
    return d.fault in pl.FAILING_FAULTS


def no_mail(d: pl.Domain, plan: pl.Plan) -> bool:
    """Neither MX nor an address at the apex: no mail service (RFC 5321 5.1)."""
    return not d.mx and not d.null_mx and d.name not in plan.hosts and not lookup_fails(d)


def mail_hosts(d: pl.Domain, plan: pl.Plan) -> list[str]:
    """The MX host names of a domain in preference order; the domain itself when implicit
    (only when it has an address: a domain with neither MX nor address has no mail service);
    none when its lookup fails."""
    if d.null_mx or no_mail(d, plan) or lookup_fails(d):
        return []
    if not d.mx:
        return [d.name]
    return [h for _, h in sorted(d.mx)]


def classify(plan: pl.Plan, threshold: int = THRESHOLD) -> dict[str, str]:
    """methodology.md section 4 on the lab's plan; only domains with a TLSA MX get a class."""
    names_per_ip: dict[str, set[str]] = defaultdict(set)
    mx_domains: dict[str, set[str]] = defaultdict(set)
    ns_domains: dict[str, set[str]] = defaultdict(set)
    registered = cache(plan.registered)
    for d in plan.domains:
        for h in mail_hosts(d, plan):
            host = plan.hosts.get(h)
            if host:
                for ip in (*host.ips, *host.ipv6):
                    names_per_ip[ip].add(h)
            mx_domains[registered(h)].add(d.name)
        if lookup_fails(d):
            continue  # its NS RRset is not seen either
        for ns in d.ns:
            ns_domains[registered(ns)].add(d.name)

    def mx_side(d: pl.Domain, h: str) -> str:
        host = plan.hosts[h]
        if any(len(names_per_ip[ip]) > threshold for ip in (*host.ips, *host.ipv6)):
            return "out"
        if registered(h) == d.name:
            return "self"
        if len(mx_domains[registered(h)]) > threshold:
            return "out"
        return "unknown"

    def ns_side(d: pl.Domain, ns: str) -> str:
        if registered(ns) == d.name:
            return "self"
        if len(ns_domains[registered(ns)]) > threshold:
            return "out"
        return "unknown"

    out: dict[str, str] = {}
    for d in plan.domains:
        tlsa_hosts = [h for h in mail_hosts(d, plan) if h in plan.hosts and plan.hosts[h].scenario]
        if not tlsa_hosts:
            out[d.name] = ""
            continue
        mx_kinds = {mx_side(d, h) for h in tlsa_hosts}
        ns_kinds = {ns_side(d, n) for n in d.ns}
        # queries/DECISIONS.md: the MX side decides SO, unknown-MX and mixed whatever the NS
        # side; self-managed MXs with self + outsourced NS are SSDS
        if mx_kinds == {"out"}:
            out[d.name] = ManagementClass.SO
        elif "unknown" in mx_kinds:
            out[d.name] = ManagementClass.UNKNOWN
        elif len(mx_kinds) > 1:
            out[d.name] = ManagementClass.MIXED
        elif "unknown" in ns_kinds:
            out[d.name] = ManagementClass.UNKNOWN
        elif ns_kinds == {"out"}:
            out[d.name] = ManagementClass.SSDO
        else:
            out[d.name] = ManagementClass.SSDS
    return out


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def host_truth(world: World, host: pl.MxHost, domains_served: int, time: str) -> dict[str, Any]:
    plan = world.plan
    st = world.host_state(host)
    zstat, tlsa_stat = {}, {}
    if host.in_lab:  # not: localhost. (the resolver's own zone), an address literal (NXDOMAIN)
        zone = plan.domain(host.zone)
        zstat = zone_status(zone)
        tlsa_stat = dict(zstat)
        breakage = world.tlsa_breakage(zone)
        if breakage and zstat["status"] == DnssecStatus.SECURE:
            tlsa_stat = _st(DnssecStatus.BOGUS, BREAKAGE_REASON[breakage])
    rec: dict[str, Any] = {
        "kind": "mx", "hour": world.hour, "time": time, "host": host.name,
        "scenario": host.scenario, "cname_target": host.cname_target,
        "addresses": list(host.ips), "addresses_v6": list(host.ipv6),
        "tlsa": [{"usage": u, "selector": s, "mtype": m, "data": data.hex()}
                 for u, s, m, data in st.tlsa],
        "tlsa_ttl": st.tlsa_ttl,
        "dnssec": {"A": zstat} if zstat else {},
        "smtp": "connect-refused" if st.smtp == "none" else _smtp_status(st.smtp),
        "domains_served": domains_served,
    }
    if st.tlsa:
        rec["dnssec"]["TLSA"] = tlsa_stat
    if st.presented is not None:
        leaf = st.presented.leaf
        rec["leaf_spki_sha256"] = _sha256(leaf.spki_der)
        rec["leaf_cert_sha256"] = _sha256(leaf.der)
        rec["issuer"] = leaf.cert.issuer.rfc4514_string()
        rec["chain_sha256"] = [_sha256(c.der) for c in st.presented.chain]
        rec["leaf_key_pem_sha256"] = _sha256(leaf.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
    scen = st.scenario
    if st.per_ip and scen is not None:
        # a host whose addresses differ: each one's certificate and expectation (the host's
        # verdict is the first failing address's, in text order, else the first's)
        rec["per_address"] = [
            {"ip": ip, "smtp": "connect-refused" if chain is None else _smtp_status(scen.smtp),
             "leaf_spki_sha256": _sha256(chain.leaf.spki_der) if chain else None,
             "valid": exp.valid, "reason": str(exp.reason), "rfc": str(exp.rfc)}
            for (ip, chain), exp in zip(st.per_ip, scen.address_expectations(world.hour),
                                        strict=True)]
    if not st.tlsa and not host.ips and not host.ipv6:
        # no address, no TLSA: nothing to connect to, DANE not in effect
        rec["verdict"] = {"valid": False, "reason": str(DaneReason.NO_ADDRESS),
                          "rfc": str(RfcOutcome.NO_DANE), "paper_valid": False,
                          "reason_first_scan": str(DaneReason.NO_ADDRESS)}
    elif scen is None or not st.tlsa:
        rec["verdict"] = {"valid": False, "reason": str(DaneReason.NO_TLSA),
                          "rfc": str(RfcOutcome.NO_DANE), "paper_valid": False,
                          "reason_first_scan": str(DaneReason.NO_TLSA)}
    else:
        exp = scen.expectation(world.hour)
        rec["verdict"] = {"valid": exp.valid, "reason": str(exp.reason), "rfc": str(exp.rfc),
                          "paper_valid": exp.paper}
        # "matches an earlier certificate" needs an earlier snapshot: a first scan says no-match
        rec["verdict"]["reason_first_scan"] = str(
            DaneReason.NO_MATCH if exp.reason is DaneReason.MATCHES_OLD_CERTIFICATE else exp.reason)
    return rec


def _smtp_status(behaviour: str) -> str:
    return {"ok": "ok", "no-starttls": "no-starttls", "starttls-454": "starttls-rejected",
            "handshake-fail": "handshake-failed"}[behaviour]


def records(world: World, epoch: dt.datetime) -> Iterator[dict[str, Any]]:
    """All truth records of ``world.hour``."""
    plan = world.plan
    time = (epoch + dt.timedelta(hours=world.hour)).strftime("%Y-%m-%dT%H:%M:%SZ")
    classes = classify(plan)
    registered = cache(plan.registered)
    served: dict[str, int] = defaultdict(int)
    for d in plan.domains:
        for h in mail_hosts(d, plan):
            served[h] += 1
    host_recs: dict[str, dict[str, Any]] = {}
    for host in plan.hosts.values():
        host_recs[host.name] = host_truth(world, host, served[host.name], time)
        yield host_recs[host.name]
    for d in plan.domains:
        zstat = (_st(DnssecStatus.INDETERMINATE, DnssecReason.LOOKUP_FAILED) if lookup_fails(d)
                 else zone_status(d))
        hosts = mail_hosts(d, plan)
        tlsa_hosts = [h for h in hosts if h in host_recs and host_recs[h]["tlsa"]]
        dane: dict[str, Any]
        if lookup_fails(d):
            dane = {"valid": None, "reason": str(DaneReason.NONE), "rfc": str(RfcOutcome.UNKNOWN)}
        elif zstat["status"] == DnssecStatus.BOGUS:
            dane = {"valid": False if tlsa_hosts else None, "reason": str(DaneReason.DNSSEC_BOGUS),
                    "rfc": str(RfcOutcome.DEFER)}
        elif not tlsa_hosts:
            dane = {"valid": None, "reason": str(DaneReason.NO_TLSA), "rfc": str(RfcOutcome.NO_DANE)}
        else:
            failing = [host_recs[h]["verdict"] for h in tlsa_hosts if not host_recs[h]["verdict"]["valid"]]
            first = host_recs[tlsa_hosts[0]]["verdict"]
            # RFC 7672 2.2.1: an insecure MX RRset does not switch DANE off for MX hosts whose
            # TLSA RRset is secure (Postfix: "MX RRset insecure: log verified as trusted").
            dane = {"valid": not failing, "reason": failing[0]["reason"] if failing else "",
                    "rfc": first["rfc"]}
        yield {
            "kind": "domain", "hour": world.hour, "time": time, "domain": d.name, "tld": d.tld,
            "scenario": d.scenario, "shape": d.shape, "class": classes[d.name],
            "mx": hosts,
            "implicit_mx": not d.mx and not d.null_mx and not no_mail(d, plan)
            and not lookup_fails(d),
            "null_mx": d.null_mx and not lookup_fails(d), "no_mail": no_mail(d, plan),
            "lookup_failed": lookup_fails(d), "fault": d.fault,
            "registered": plan.registered(d.name),
            "mx_registered": [registered(h) for h in hosts],
            "ns": list(d.ns), "ds_in_parent": d.ds_in_parent,
            "dnssec": {"MX": zstat, "DNSKEY": zstat}, "dane": dane,
        }
    for host in plan.hosts.values():
        rolling = sc.ALL.get(host.scenario)
        if rolling is None:
            continue
        for sw in rolling.changes():
            if sw.hour == world.hour:
                yield rollover_record(host, rolling, sw, time)


def rollover_record(host: pl.MxHost, scen: sc.Scenario, sw: sc.Switch, time: str
                    ) -> dict[str, Any]:
    """The truth of one key change (written in the hour of the switch)."""
    per_address = sw.addresses or (sw.outcome,) * len(host.ips)
    return {"kind": "rollover", "hour": sw.hour, "time": time, "host": host.name,
            "scenario": scen.id, "change": sw.change, "tlsa_ttl": sw.ttl,
            "outcome": str(sw.outcome), "published_hour": sw.published,
            "old_seen_until": sw.hour - 1 if sw.old_seen_until is None else sw.old_seen_until,
            "addresses": sorted(f"{ip} {o}" for ip, o in zip(host.ips, per_address, strict=True)
                                if o is not None)}


UNJUDGED = frozenset({RolloverOutcome.SHORT_TTL, RolloverOutcome.BEFORE_WINDOW,
                      RolloverOutcome.NOT_SECURE})
_KEPT = frozenset({RolloverOutcome.NOT_SECURE, RolloverOutcome.SHORT_TTL,
                   RolloverOutcome.NOT_UPDATED, RolloverOutcome.UPDATED_LATER,
                   RolloverOutcome.SAME_TIME})


def outcome_in_window(rec: dict[str, Any], since: int, ttl_at: Mapping[int, int]
                      ) -> RolloverOutcome | None:
    """The outcome of rollover truth ``rec`` for a query window that starts at lab hour
    ``since`` (queries/DECISIONS.md, "Window start" and "Which TTL"); None when the switch is not
    after the window's first snapshot (no change is seen). ``ttl_at``: the host's TLSA TTL by
    hour. What the window hides: a publication before its first snapshot, when that snapshot is
    later than t - 2T (before-window); a larger TTL before it (T is read from the window); an old
    record withdrawn before it (early removal and a record never published look alike there:
    before-window)."""
    t, outcome = int(rec["hour"]), RolloverOutcome(rec["outcome"])
    if t <= since:
        return None
    if outcome in _KEPT:
        return outcome
    if outcome is RolloverOutcome.EARLY_RETRACT:
        return RolloverOutcome.BEFORE_WINDOW if rec["old_seen_until"] < since else outcome
    seen = [(h, ttl_at[h]) for h in range(since, t)]
    ttl = max([seen[-1][1]] + [x for h, x in seen if 3600 * h + 2 * x >= 3600 * t])
    published = rec["published_hour"]
    if published <= since and 3600 * since > 3600 * t - 2 * ttl:
        return RolloverOutcome.BEFORE_WINDOW
    if 3600 * max(published, since) + 2 * ttl <= 3600 * t:
        return RolloverOutcome.CORRECT
    return RolloverOutcome.TOO_LATE


def host_shares(outcomes_by_host: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """The paper's per-host headline (queries/DECISIONS.md "Shares"): MX hosts with a judged
    change, those with one that is not correct, those with a same-time or too-late one, and
    those with changes none of which could be judged."""
    out = {"judged": 0, "wrong-at-least-once": 0, "ignored-ttl": 0, "not-judged": 0}
    for outcomes in outcomes_by_host.values():
        judged = [RolloverOutcome(o) for o in outcomes if RolloverOutcome(o) not in UNJUDGED]
        if not judged:
            out["not-judged"] += bool(outcomes)
            continue
        out["judged"] += 1
        out["wrong-at-least-once"] += any(o is not RolloverOutcome.CORRECT for o in judged)
        out["ignored-ttl"] += any(o in (RolloverOutcome.SAME_TIME, RolloverOutcome.TOO_LATE)
                                  for o in judged)
    return out
