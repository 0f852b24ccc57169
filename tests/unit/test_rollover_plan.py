"""The rollover plan's timing and RRset arithmetic (workers/dane/rollover_plan.py), and TSIG files."""

from __future__ import annotations

import datetime as dt

import pytest

from workers.dane.rollover_plan import RolloverState, Step, Ttls, duration, make_plan
from workers.dane.tlsa import TlsaRecord
from workers.dns.tsigfile import TsigFileError, parse

OWNER = "_25._tcp.mx.example.com."
CUR = TlsaRecord(3, 1, 1, bytes(32))
NXT = TlsaRecord(3, 1, 1, bytes([1]) * 32)
TA = TlsaRecord(2, 1, 1, bytes([2]) * 32)
T0 = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


def test_ttl_is_the_rrsets_original_ttl_when_it_exists() -> None:
    plan = make_plan(OWNER, (CUR,), (CUR,), (NXT,), Ttls(rrset_ttl=3600, soa_ttl=900,
                                                         soa_minimum=300))
    assert plan.ttl == 3600 and plan.wait == 7200
    assert plan.publish_now == (CUR, NXT)
    assert plan.add == (NXT,)
    assert plan.withdraw == (CUR,)
    assert plan.final == (NXT,)
    assert not plan.notes


@pytest.mark.parametrize(("soa_ttl", "minimum", "hold"), [(900, 300, 300), (120, 3600, 120)])
def test_negative_ttl_when_no_rrset(soa_ttl: int, minimum: int, hold: int) -> None:
    plan = make_plan(OWNER, (), (CUR,), (NXT,), Ttls(None, soa_ttl, minimum))
    assert plan.ttl == hold and plan.wait == 2 * hold
    assert plan.publish_now == (CUR, NXT) and plan.add == (CUR, NXT)
    assert "negative TTL" in plan.ttl_reason


def test_a_denials_nsec_ttl_longer_than_the_negative_ttl_is_waited_out() -> None:
    """Signers before RFC 9077 give NSEC/NSEC3 the SOA MINIMUM as TTL; a resolver with
    aggressive negative caching (RFC 8198, unbound's default) answers "no such name" from that
    NSEC for as long, whatever min(SOA TTL, MINIMUM) says."""
    plan = make_plan(OWNER, (), (CUR,), (NXT,), Ttls(None, 120, 3600, denial_ttl=3600))
    assert plan.ttl == 3600 and plan.wait == 7200
    assert "NSEC" in plan.ttl_reason
    short = make_plan(OWNER, (), (CUR,), (NXT,), Ttls(None, 900, 300, denial_ttl=300))
    assert short.ttl == 300 and "NSEC" not in short.ttl_reason


def test_other_records_stay_and_missing_current_is_noted() -> None:
    plan = make_plan(OWNER, (TA,), (CUR,), (NXT,), Ttls(600, 900, 300))
    assert plan.publish_now == (TA, CUR, NXT)
    assert plan.final == (TA, NXT)
    assert any("no record for the current key" in n for n in plan.notes)


def test_same_key_renewal_needs_nothing() -> None:
    plan = make_plan(OWNER, (CUR,), (CUR,), (CUR,), Ttls(3600, 900, 300))
    assert plan.nothing_to_do and plan.wait == 0 and plan.final == (CUR,)


def test_next_already_published_still_waits_from_first_sight() -> None:
    plan = make_plan(OWNER, (CUR, NXT), (CUR,), (NXT,), Ttls(3600, 900, 300))
    assert plan.add == () and plan.withdraw == (CUR,) and plan.wait == 7200
    assert not plan.nothing_to_do


def test_state_steps_and_switch_time() -> None:
    plan = make_plan(OWNER, (CUR,), (CUR,), (NXT,), Ttls(60, 900, 300))
    s = RolloverState.start(plan, "example.com.")
    assert s.step(T0) is Step.PUBLISH_NEXT and s.seconds_to_switch(T0) is None
    s = s.did("published", T0, published_at=T0)
    assert s.step(T0) is Step.WAIT_VISIBLE
    seen = T0 + dt.timedelta(seconds=5)
    s = s.did("visible", seen, visible_at=seen)
    assert s.switch_at == seen + dt.timedelta(seconds=120)
    assert s.step(seen + dt.timedelta(seconds=119)) is Step.WAIT_SWITCH
    assert s.seconds_to_switch(seen + dt.timedelta(seconds=119, milliseconds=500)) == 1
    assert s.step(seen + dt.timedelta(seconds=120)) is Step.SWITCH
    s = s.did("switched", seen, switched_at=seen + dt.timedelta(seconds=120))
    assert s.step(seen) is Step.WITHDRAW_OLD
    s = s.did("withdrawn", seen, withdrawn_at=seen + dt.timedelta(seconds=121))
    assert s.step(seen) is Step.DONE
    again = RolloverState.from_json(s.to_json())
    assert again == s and len(again.history) == 4
    assert again.same_plan(plan)


@pytest.mark.parametrize("text", ["", "[]", '{"owner": "x"}', '{"owner": "x", "zone": "z", '
                                  '"current": ["3 1 1 zz"], "next": [], "ttl": 1, "wait": 2}',
                                  '{"owner": "x", "zone": "z", "current": [], "next": [], '
                                  '"ttl": 1, "wait": 2, "visible_at": "yesterday"}'])
def test_damaged_state_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        RolloverState.from_json(text)


def test_make_plan_refuses_empty_sides() -> None:
    with pytest.raises(ValueError):
        make_plan(OWNER, (), (), (NXT,), Ttls(60, 60, 60))


def test_duration() -> None:
    assert duration(7200) == "2h 0m 0s"
    assert duration(61) == "1m 1s"
    assert duration(-3) == "0s"


SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQ="


@pytest.mark.parametrize("text", [
    f'key "roll.key" {{\n\talgorithm hmac-sha256;\n\tsecret "{SECRET}";\n}};\n',
    f"# hmac-sha256:roll.key:...\nkey:\n  - id: roll.key\n    algorithm: hmac-sha256\n"
    f"    secret: {SECRET}\n",
    f"hmac-sha256:roll.key:{SECRET}\n",
])
def test_tsig_files(text: str) -> None:
    key = parse(text)
    assert (key.name, key.algorithm, key.secret) == ("roll.key", "hmac-sha256", SECRET)


@pytest.mark.parametrize(("text", "words"), [
    ("hello", "no TSIG key"),
    (f"hmac-foo:k:{SECRET}", "unknown TSIG algorithm"),
    ("hmac-sha256:k:not base64!", "not base64"),
    ('key "k" { algorithm hmac-sha256; };', "lacks"),
    (f'key "a..b" {{ algorithm hmac-sha256; secret "{SECRET}"; }};', "key name"),
    (f"hmac-sha256:{'k' * 64}.example:{SECRET}", "key name"),
])
def test_bad_tsig_files(text: str, words: str) -> None:
    with pytest.raises(TsigFileError, match=words):
        parse(text)
