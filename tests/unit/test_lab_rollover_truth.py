"""The lab's rollover edge cases (issue 16): what the world presents and publishes hour by hour,
and the truth written for them (lab.truth: rollover records, window and per-host rules)."""

from __future__ import annotations

import datetime as dt
import hashlib
from functools import cache
from typing import Any

from lab import scenarios as sc
from lab.plan import Plan, build_plan
from lab.truth import host_shares, outcome_in_window, records
from lab.world import World
from workers.vocab import RolloverOutcome

EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
HOURS = range(7)


@cache
def _plan() -> Plan:
    return build_plan(300, 3)


@cache
def _truth(hour: int) -> tuple[dict[str, Any], ...]:
    return tuple(records(World(_plan(), hour), EPOCH))


def _host(scenario: str, hour: int) -> dict[str, Any]:
    return next(r for r in _truth(hour) if r["kind"] == "mx" and r["scenario"] == scenario)


def _rollovers(scenario: str) -> list[dict[str, Any]]:
    return [r for h in HOURS for r in _truth(h) if r["kind"] == "rollover" and r["scenario"] == scenario]


def _listener_leaves(scenario: str, hour: int) -> dict[str, str]:
    """ip -> SHA-256 of the leaf the lab's mail server presents there this hour."""
    world = World(_plan(), hour)
    host = next(h for h in _plan().hosts.values() if h.scenario == scenario)
    listeners = world.smtp_listeners()
    return {ip: hashlib.sha256(listeners[ip][1]["*"].leaf.spki_der).hexdigest()
            for ip in host.ips if ip in listeners}


def test_edge_scenarios_are_planned_once_each() -> None:
    hosts = [h for h in _plan().hosts.values() if h.scenario in {s.id for s in sc.EDGE_ROLLOVERS}]
    assert sorted(h.scenario for h in hosts) == sorted(s.id for s in sc.EDGE_ROLLOVERS)
    for h in hosts:
        assert len(h.ips) == sc.ALL[h.scenario].addresses and list(h.ips) == sorted(h.ips)


def test_diverging_addresses_present_their_own_keys() -> None:
    ips = _host("rollover-addr-diverge", 0)["addresses"]
    before, after = _listener_leaves("rollover-addr-diverge", sc.SWITCH - 1), _listener_leaves("rollover-addr-diverge", sc.SWITCH)
    assert before[ips[0]] == before[ips[1]] == after[ips[0]] != after[ips[1]]
    rec = _host("rollover-addr-diverge", sc.SWITCH)
    assert [a["leaf_spki_sha256"] for a in rec["per_address"]] == [after[ips[0]], after[ips[1]]]
    # the host's verdict and leaf are the failing address's
    assert rec["verdict"]["reason"] == "matches-old-certificate" and rec["leaf_spki_sha256"] == after[ips[1]]
    assert [a["rfc"] for a in rec["per_address"]] == ["verified", "defer"]
    [roll] = _rollovers("rollover-addr-diverge")
    assert roll["outcome"] == "not-updated" and roll["addresses"] == [f"{ips[1]} not-updated"]


def test_an_address_down_for_an_hour_listens_again_after_it() -> None:
    ips = _host("rollover-addr-down", 0)["addresses"]
    assert set(_listener_leaves("rollover-addr-down", sc.SWITCH - 1)) == {ips[1]}
    assert set(_listener_leaves("rollover-addr-down", sc.SWITCH)) == set(ips)
    down = _host("rollover-addr-down", sc.SWITCH - 1)
    assert down["smtp"] == "connect-refused" and "leaf_spki_sha256" not in down
    assert [a["smtp"] for a in down["per_address"]] == ["connect-refused", "ok"]
    [roll] = _rollovers("rollover-addr-down")
    assert roll["outcome"] == "correct" and roll["addresses"] == sorted(f"{ip} correct" for ip in ips)
    assert roll["published_hour"] == 1 and roll["tlsa_ttl"] == 3600


def test_ttl_change_keeps_the_larger_ttl_for_the_judgement() -> None:
    assert [_host("rollover-ttl-change", h)["tlsa_ttl"] for h in HOURS] == [7200] + [1800] * 6
    [roll] = _rollovers("rollover-ttl-change")
    assert (roll["outcome"], roll["tlsa_ttl"], roll["published_hour"]) == ("too-late", 7200, 1)


def test_same_key_renewals() -> None:
    """3 1 1: a new certificate, the same key, the same record, no rollover; 3 0 1: the record of
    the renewed certificate is published ahead and the change is a leaf-cert rollover."""
    before, after = _host("renewal-same-key-311", sc.SWITCH - 1), _host("renewal-same-key-311", sc.SWITCH)
    assert before["leaf_cert_sha256"] != after["leaf_cert_sha256"]
    assert before["leaf_spki_sha256"] == after["leaf_spki_sha256"] and before["tlsa"] == after["tlsa"]
    assert _rollovers("renewal-same-key-311") == []
    old = _host("rollover-same-key-301", 0)
    new = _host("rollover-same-key-301", sc.SWITCH + 1)
    assert old["leaf_spki_sha256"] == new["leaf_spki_sha256"]
    assert [t["data"] for t in old["tlsa"]] == [old["leaf_cert_sha256"]]
    assert [t["data"] for t in new["tlsa"]] == [new["leaf_cert_sha256"]]
    assert {t["data"] for t in _host("rollover-same-key-301", 1)["tlsa"]} == {old["leaf_cert_sha256"], new["leaf_cert_sha256"]}
    [roll] = _rollovers("rollover-same-key-301")
    assert (roll["change"], roll["outcome"]) == ("leaf-cert", "correct")


def test_full_data_and_sha512_records_follow_the_key() -> None:
    for scen, (sel, mtype) in {"rollover-300": (0, 0), "rollover-310": (1, 0), "rollover-302": (0, 2)}.items():
        during = _host(scen, 1)["tlsa"]
        assert [(t["usage"], t["selector"], t["mtype"]) for t in during] == [(3, sel, mtype)] * 2
        assert during[0]["data"] != during[1]["data"]
        # SHA-512: 64 bytes; full data: the whole certificate or SubjectPublicKeyInfo (> 64 bytes)
        assert len(during[0]["data"]) == 128 if mtype == 2 else len(during[0]["data"]) > 128
        assert _host(scen, sc.SWITCH + 1)["tlsa"] == during[1:]
        assert [r["outcome"] for r in _rollovers(scen)] == ["correct"]


def test_two_rollovers_in_a_row_and_the_unjudged_ones() -> None:
    assert [(r["hour"], r["outcome"]) for r in _rollovers("rollover-twice")] == [(sc.SWITCH, "correct"), (sc.SWITCH + 2, "same-time")]
    assert [r["outcome"] for r in _rollovers("rollover-bogus")] == ["not-secure"]
    assert _host("rollover-bogus", sc.SWITCH)["dnssec"]["TLSA"]["status"] == "bogus"
    assert [r["outcome"] for r in _rollovers("rollover-insecure")] == ["not-secure"]
    assert _host("rollover-insecure", sc.SWITCH)["dnssec"]["TLSA"]["reason"] == "missing-ds"


def _rec(outcome: str, hour: int = 3, published: int | None = 1, old_until: int = 2) -> dict[str, Any]:
    return {"hour": hour, "outcome": outcome, "published_hour": published, "old_seen_until": old_until}


def test_outcome_in_window() -> None:
    ttl = {h: 1800 for h in range(7)}
    long = {h: 3600 for h in range(7)}
    assert outcome_in_window(_rec("correct"), 0, ttl) is RolloverOutcome.CORRECT
    assert outcome_in_window(_rec("correct"), 3, ttl) is None  # the switch is the first snapshot
    assert outcome_in_window(_rec("correct"), 2, ttl) is RolloverOutcome.CORRECT  # 2 = t - 2T
    assert outcome_in_window(_rec("correct"), 2, long) is RolloverOutcome.BEFORE_WINDOW  # 2 > t - 2T
    assert outcome_in_window(_rec("too-late", published=2), 1, long) is RolloverOutcome.TOO_LATE
    assert outcome_in_window(_rec("too-late", published=2), 2, long) is RolloverOutcome.BEFORE_WINDOW
    # T read from the window: a larger TTL before it is not seen
    lowered = {0: 7200, **{h: 1800 for h in range(1, 7)}}
    assert outcome_in_window(_rec("correct"), 0, lowered) is RolloverOutcome.TOO_LATE
    assert outcome_in_window(_rec("correct"), 2, lowered) is RolloverOutcome.CORRECT
    assert outcome_in_window(_rec("early-retract", old_until=1), 1, ttl) is RolloverOutcome.EARLY_RETRACT
    assert outcome_in_window(_rec("early-retract", old_until=1), 2, ttl) is RolloverOutcome.BEFORE_WINDOW
    for kept in ("same-time", "not-updated", "updated-later", "short-ttl", "not-secure"):
        assert outcome_in_window(_rec(kept, published=None), 2, long) is RolloverOutcome(kept)


def test_host_shares() -> None:
    shares = host_shares({"a": ["correct", "same-time"], "b": ["correct"], "c": ["short-ttl"],
                          "d": ["not-secure", "too-late"], "e": ["early-retract"], "f": ["before-window"]})
    assert shares == {"judged": 4, "wrong-at-least-once": 3, "ignored-ttl": 2, "not-judged": 2}
