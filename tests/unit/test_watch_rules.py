"""``danescan watch``'s rules on plain data: the renewal risk (workers/dane/expiry.py), the
interval syntax, when the webhook fires and the exit status of --once."""

from __future__ import annotations

import datetime as dt

import pytest

from danescan.watch_cli import (
    State,
    exit_code,
    parse_interval,
    post,
    should_post,
    state_of,
    webhook_problem,
)
from tests.unit.test_dane_pki import NOW, Pki, issue, make_pki
from workers.dane import TlsaRecord
from workers.dane.expiry import renewal_risk
from workers.scan.check import EXIT_CANNOT_CHECK, EXIT_OK, DomainReport, Status

HOST = "mx.example.net"
DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module")
def soon() -> Pki:
    """A chain whose leaf expires in 10 days."""
    base = make_pki(HOST)
    leaf = issue(HOST, base.inter, not_after=NOW + 10 * DAY)
    return Pki(base.root, base.inter, leaf)


def test_expiring_leaf_under_its_own_3_1_1_only_is_a_risk(soon: Pki) -> None:
    risk = renewal_risk(HOST, [soon.leaf.tlsa(3, 1, 1)], soon.chain, NOW, 21, ttl=3600)
    assert risk is not None and risk.days_left == 10
    assert "expires on" in risk.sentence and "2 x TTL = 7200 s" in risk.sentence


def test_not_within_the_window(soon: Pki) -> None:
    assert renewal_risk(HOST, [soon.leaf.tlsa(3, 1, 1)], soon.chain, NOW, 9) is None


def test_a_next_key_record_removes_the_risk(soon: Pki) -> None:
    nxt = issue(HOST, soon.inter)
    records = [soon.leaf.tlsa(3, 1, 1), nxt.tlsa(3, 1, 1)]
    assert renewal_risk(HOST, records, soon.chain, NOW, 21) is None


def test_a_ta_record_of_the_issuer_covers_a_renewal(soon: Pki) -> None:
    records = [soon.leaf.tlsa(3, 1, 1), soon.inter.tlsa(2, 1, 1)]
    assert renewal_risk(HOST, records, soon.chain, NOW, 21) is None


def test_dane_resting_on_a_lasting_issuer_is_no_risk(soon: Pki) -> None:
    assert renewal_risk(HOST, [soon.inter.tlsa(2, 1, 1)], soon.chain, NOW, 21) is None


@pytest.fixture(scope="module")
def ca_soon() -> Pki:
    """An issuing CA whose certificate expires in 12 days, its leaf in a year."""
    base = make_pki(HOST)
    inter = issue("Short CA", base.root, ca=True, not_after=NOW + 12 * DAY)
    return Pki(base.root, inter, issue(HOST, inter))


def test_a_pinned_intermediate_expiring_is_a_risk(ca_soon: Pki) -> None:
    risk = renewal_risk(HOST, [ca_soon.inter.tlsa(2, 1, 1)], ca_soon.chain, NOW, 21)
    assert risk is not None and risk.days_left == 12
    assert "CN=Short CA" in risk.sentence and "another intermediate" in risk.sentence
    assert renewal_risk(HOST, [ca_soon.inter.tlsa(2, 1, 1)], ca_soon.chain, NOW, 11) is None


def test_a_lasting_leaf_pin_beside_an_expiring_ca_pin_is_no_risk(ca_soon: Pki) -> None:
    records = [ca_soon.inter.tlsa(2, 1, 1), ca_soon.leaf.tlsa(3, 1, 1)]
    assert renewal_risk(HOST, records, ca_soon.chain, NOW, 21) is None


def test_leaf_and_ca_pins_both_expiring_are_a_risk(soon: Pki) -> None:
    inter = issue("Short CA", soon.root, ca=True, not_after=NOW + 12 * DAY)
    leaf = issue(HOST, inter, not_after=NOW + 10 * DAY)
    risk = renewal_risk(HOST, [inter.tlsa(2, 1, 1), leaf.tlsa(3, 1, 1)], (leaf.der, inter.der),
                        NOW, 21)
    assert risk is not None and risk.days_left == 12 and "its own certificate" in risk.sentence


def test_a_stale_record_of_an_earlier_key_is_no_next_key(soon: Pki) -> None:
    old = issue(HOST, soon.inter)
    records = [soon.leaf.tlsa(3, 1, 1), old.tlsa(3, 1, 1)]
    assert renewal_risk(HOST, records, soon.chain, NOW, 21, earlier=[old.der]) is not None
    assert renewal_risk(HOST, records, soon.chain, NOW, 21) is None  # unknown: a next key


def test_unusable_records_are_no_next_key(soon: Pki) -> None:
    records = [soon.leaf.tlsa(3, 1, 1), TlsaRecord(1, 1, 1, bytes(32)), TlsaRecord(4, 1, 1, bytes(32))]
    assert renewal_risk(HOST, records, soon.chain, NOW, 21) is not None


def test_an_expired_leaf_under_dane_ee_is_a_risk() -> None:
    leaf = issue(HOST, not_before=NOW - 400 * DAY, not_after=NOW - 35 * DAY)
    risk = renewal_risk(HOST, [leaf.tlsa(3, 0, 1)], (leaf.der,), NOW, 21)
    assert risk is not None and risk.days_left == -35 and "expired on" in risk.sentence


def test_unreadable_chain_is_no_risk() -> None:
    assert renewal_risk(HOST, [TlsaRecord(3, 1, 1, bytes(32))], (b"junk",), NOW, 21) is None


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("15m", 900),
                                               ("1h", 3600), ("1h30m", 5400), ("1d", 86400),
                                               ("0.5h", 1800)])
def test_intervals(text: str, seconds: float) -> None:
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "1x", "1h 30m", "-5m", "0s", "1hh", "0", "0.5",
                                  "367d", "99999999999999999999d", "9" * 400])
def test_bad_intervals(text: str) -> None:
    with pytest.raises(ValueError):
        parse_interval(text)


def test_webhook_fires_on_changes_only() -> None:
    assert not should_post(State.OK, None)  # fine from the start: nothing to say
    assert should_post(State.BROKEN, None)
    assert should_post(State.WARNING, State.OK)
    assert not should_post(State.BROKEN, State.BROKEN)
    assert should_post(State.OK, State.BROKEN)  # recovered
    assert should_post(State.BROKEN, State.WARNING)


def test_exit_status_of_once() -> None:
    assert exit_code([State.OK, State.OK]) == 0
    assert exit_code([State.OK, State.WARNING]) == 3
    assert exit_code([State.WARNING, State.ERROR]) == 2
    assert exit_code([State.ERROR, State.BROKEN, State.WARNING]) == 1


def test_state_of_a_report() -> None:
    now = NOW
    assert state_of(DomainReport("a.example", now, "", Status.ERROR, EXIT_CANNOT_CHECK,
                                 "gone")) is State.ERROR
    assert state_of(DomainReport("a.example", now, "", Status.NO_DANE, EXIT_OK)) is State.OK


@pytest.mark.parametrize("url", ["http://[::1/hook", "http://127.0.0.1:99999/hook",
                                 "http://127.0.0.1:abc/hook", "ftp://127.0.0.1/x", "http:///x",
                                 "https://", "http://exa mple/x"])
def test_bad_webhook_urls_are_refused_before_the_watch(url: str) -> None:
    problem = webhook_problem(url)
    assert problem is not None and url in problem
    assert post(url, {}) is not None  # and never a traceback if one got through


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hook", "https://[::1]/x?y=1",
                                 "https://hooks.example.net/services/T0/B0"])
def test_good_webhook_urls(url: str) -> None:
    assert webhook_problem(url) is None
