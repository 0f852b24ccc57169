"""The DNS probe against the lab's signed internet: every domain and MX host agrees with the
ground truth (lab/TRUTH.md) on DNSSEC status and reason, MX hosts, TLSA records and addresses."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from tests.integration.lab_fixtures import LabHandle
from workers.dns import (
    BatchResult,
    DomainInput,
    EngineSettings,
    RRsetEvidence,
    load_trust_anchor,
    probe_batch_sync,
)
from workers.vocab import DnssecStatus, QueryStatus

pytestmark = pytest.mark.lab

_cache: dict[int, BatchResult] = {}


def _probe(lab: LabHandle) -> BatchResult:
    """One probe of every lab domain per session (the tests below read the same result)."""
    key = id(lab)
    if key not in _cache:
        truth = lab.truth()
        inputs = [DomainInput(d["domain"], tuple(d["ns"]), d["ds_in_parent"])
                  for d in truth.domains.values()]
        _cache[key] = probe_batch_sync(inputs, EngineSettings(lab.resolver, timeout=2.0),
                                       time.time(), load_trust_anchor(str(lab.trust_anchor)))
    return _cache[key]


def _bare(name: str) -> str:
    return name.rstrip(".")


def _status(rr: RRsetEvidence | None) -> dict[str, str]:
    assert rr is not None
    return {"status": str(rr.dnssec_status), "reason": str(rr.dnssec_reason)}


def _disagreements(rows: list[tuple[Any, ...]]) -> str:
    return "\n".join(repr(r) for r in rows[:40]) + f"\n({len(rows)} in all)"


def test_every_domain_agrees_with_the_truth(lab: LabHandle) -> None:
    truth = lab.truth()
    res = _probe(lab)
    got = {_bare(d.domain): d for d in res.domains}
    assert set(got) == set(truth.domains)
    wrong: list[tuple[Any, ...]] = []
    for name, want in truth.domains.items():
        d = got[name]
        scen = want["scenario"]
        assert not d.error, (name, d.error)
        if _status(d.mx) != want["dnssec"]["MX"]:
            wrong.append((name, scen, "MX", _status(d.mx), want["dnssec"]["MX"],
                          d.mx.detail if d.mx else ""))
        if _status(d.dnskey) != want["dnssec"]["DNSKEY"]:
            wrong.append((name, scen, "DNSKEY", _status(d.dnskey), want["dnssec"]["DNSKEY"]))
        hosts = [_bare(h) for h in d.mx_hosts]
        shape = (hosts, d.implicit_mx, d.null_mx)
        if shape != (want["mx"], want["implicit_mx"], want["null_mx"]):
            wrong.append((name, scen, "mx", shape, (want["mx"], want["implicit_mx"],
                                                    want["null_mx"])))
        failed = [q for q in d.queries if q.status not in (QueryStatus.NOERROR,
                                                           QueryStatus.NXDOMAIN,
                                                           QueryStatus.SERVFAIL)]
        if failed:
            wrong.append((name, scen, "queries", [(q.qname, q.qtype, q.status, q.error)
                                                  for q in failed]))
    assert not wrong, _disagreements(wrong)


def _tlsa_rows(rr: RRsetEvidence) -> list[dict[str, Any]]:
    return sorted(({"usage": t.usage, "selector": t.selector, "mtype": t.mtype,
                    "data": t.data.hex()} for t in rr.tlsa), key=lambda r: sorted(r.items()))


def test_every_mx_host_agrees_with_the_truth(lab: LabHandle) -> None:
    truth = lab.truth()
    res = _probe(lab)
    got = {_bare(h.host): h for h in res.hosts}
    assert set(got) == set(truth.hosts)
    wrong: list[tuple[Any, ...]] = []
    for name, want in truth.hosts.items():
        h = got[name]
        scen = want["scenario"]
        if _status(h.a) != want["dnssec"]["A"]:
            wrong.append((name, scen, "A", _status(h.a), want["dnssec"]["A"]))
        if sorted(h.addresses) != sorted(want["addresses"]):
            wrong.append((name, scen, "addresses", h.addresses, want["addresses"]))
        if (_bare(h.cname_target) if h.cname_target else None) != want["cname_target"]:
            wrong.append((name, scen, "cname", h.cname_target, want["cname_target"]))
        if h.tlsa.failed and not h.tlsa.from_cd:  # bogus: SERVFAIL, records from the CD query
            wrong.append((name, scen, "TLSA lookup failed", h.tlsa.query_status, h.tlsa.detail))
            continue
        want_rows = sorted(want["tlsa"], key=lambda r: sorted(r.items()))
        if _tlsa_rows(h.tlsa) != want_rows:
            wrong.append((name, scen, "TLSA records", h.tlsa.records, want["tlsa"]))
        if want["tlsa"]:
            if _status(h.tlsa) != want["dnssec"]["TLSA"]:
                wrong.append((name, scen, "TLSA", _status(h.tlsa), want["dnssec"]["TLSA"],
                              h.tlsa.detail))
            # the resolver counts a cached TTL down; the RRSIG keeps the original TTL
            ttls = (h.tlsa.ttl, {s.original_ttl for s in h.tlsa.rrsigs})
            if not (0 < (h.tlsa.ttl or 0) <= want["tlsa_ttl"]) or not ttls[1] <= {want["tlsa_ttl"]}:
                wrong.append((name, scen, "TLSA TTL", ttls, want["tlsa_ttl"]))
            expected_base = f"_25._tcp.{want['cname_target'] or name}."
            if h.tlsa_base != expected_base:
                wrong.append((name, scen, "TLSA base", h.tlsa_base, expected_base))
        elif h.tlsa.query_status not in (QueryStatus.NOERROR, QueryStatus.NXDOMAIN):
            wrong.append((name, scen, "no TLSA but", h.tlsa.query_status))
    assert not wrong, _disagreements(wrong)


def test_every_dnssec_scenario_is_covered(lab: LabHandle) -> None:
    """The comparisons above saw each DNSSEC status and reason the lab publishes."""
    truth = lab.truth()
    seen = Counter((h["dnssec"]["TLSA"]["status"], h["dnssec"]["TLSA"]["reason"])
                   for h in truth.hosts.values() if h["tlsa"])
    seen.update((d["dnssec"]["MX"]["status"], d["dnssec"]["MX"]["reason"])
                for d in truth.domains.values())
    assert {("secure", ""), ("insecure", "missing-ds"), ("insecure", "unsigned"),
            ("bogus", "ds-mismatch"), ("bogus", "signature-expired"),
            ("bogus", "signature-not-yet-valid"), ("bogus", "signature-invalid"),
            ("bogus", "rrsig-missing")} <= set(seen)


def test_tlsa_data_that_does_not_fit_its_matching_type_is_returned(lab: LabHandle) -> None:
    """dnspython refuses such a record; the probe keeps it, secure, with its bytes as published."""
    truth = lab.truth()
    res = _probe(lab)
    got = {_bare(h.host): h for h in res.hosts}
    misfits = [n for n, h in truth.hosts.items()
               if any({1: 32, 2: 64}.get(r["mtype"], len(r["data"]) // 2) != len(r["data"]) // 2
                      for r in h["tlsa"])]
    assert misfits
    for name in misfits:
        h = got[name]
        assert h.tlsa.query_status is QueryStatus.NOERROR
        assert h.tlsa.dnssec_status is DnssecStatus.SECURE
        assert _tlsa_rows(h.tlsa) == sorted(truth.hosts[name]["tlsa"],
                                            key=lambda r: sorted(r.items()))
        tlsa_query = next(q for q in h.queries if q.qtype == "TLSA")
        assert tlsa_query.ad and any(" TLSA " in line for line in tlsa_query.answer)
