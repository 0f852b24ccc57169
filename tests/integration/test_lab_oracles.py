"""The lab's ground truth against reference implementations: unbound and Postfix's DANE client."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from danescan.vocab import DnssecStatus
from lab.oracles import posttls_finger_outcome, run_posttls_finger, unbound_reason, unbound_status
from lab.scenarios import ROLLOVERS
from tests.integration.lab_fixtures import LabHandle, running_lab

pytestmark = [pytest.mark.lab, pytest.mark.oracle]


def _tlsa_name(host: dict) -> str:
    return f"_25._tcp.{host['cname_target'] or host['host']}."


def test_unbound_agrees_on_every_tlsa_rrset(lab: LabHandle) -> None:
    truth = lab.truth()
    log = lab.dir / "unbound" / "unbound.log"
    checked = set()
    for host in truth.hosts.values():
        if not host["tlsa"]:
            continue
        want = host["dnssec"]["TLSA"]
        got = unbound_status(lab.resolver, _tlsa_name(host), "TLSA")
        assert got == want["status"], (host["host"], host["scenario"], got, want)
        if got == DnssecStatus.BOGUS:
            reason = unbound_reason(log, _tlsa_name(host), "TLSA")
            assert reason == want["reason"], (host["host"], host["scenario"], reason, want)
        checked.add(host["scenario"])
    assert {"bogus-expired", "bogus-not-yet-valid", "bogus-bad-signature", "bogus-missing-rrsig",
            "bogus-ds-mismatch", "missing-ds", "unsigned-tlsa", "valid-311"} <= checked


def test_unbound_agrees_on_every_mx_and_address_rrset(lab: LabHandle) -> None:
    truth = lab.truth()
    for d in truth.domains.values():
        got = unbound_status(lab.resolver, d["domain"] + ".", "MX")
        assert got == d["dnssec"]["MX"]["status"], (d["domain"], d["scenario"], got)
    for host in truth.hosts.values():
        name = (host["cname_target"] or host["host"]) + "."
        got = unbound_status(lab.resolver, name, "A")
        assert got == host["dnssec"]["A"]["status"], (host["host"], host["scenario"], got)


def test_postfix_agrees_on_every_dane_mx_host(lab: LabHandle, tmp_path: Path) -> None:
    truth = lab.truth()
    hosts = {h["host"]: h for h in truth.hosts.values() if h["tlsa"]}
    lines = run_posttls_finger([f"[{h}]" for h in hosts], lab.resolver, tmp_path)
    disagree = []
    for name, host in hosts.items():
        got = posttls_finger_outcome(lines[f"[{name}]"])
        if got != host["verdict"]["rfc"]:
            disagree.append((name, host["scenario"], str(got), host["verdict"]["rfc"],
                             lines[f"[{name}]"][:3]))
    assert not disagree, disagree
    assert len({h["scenario"] for h in hosts.values()}) >= 35


def test_postfix_agrees_on_domains_with_insecure_mx(lab: LabHandle, tmp_path: Path) -> None:
    """An insecure MX RRset: Postfix does not use DANE for its hosts ("non-DNSSEC destination")."""
    truth = lab.truth()
    domains = [d for d in truth.domains.values() if d["scenario"] in ("insecure-mx", "multi-mx-mixed",
                                                                      "implicit-mx", "mx-cname")]
    assert domains
    lines = run_posttls_finger([d["domain"] for d in domains], lab.resolver, tmp_path)
    for d in domains:
        got = posttls_finger_outcome(lines[d["domain"]])
        want = d["dane"]["rfc"]
        if d["scenario"] == "multi-mx-mixed":
            want = "verified"  # posttls-finger stops at the first MX host that verifies
        assert got == want, (d["domain"], d["scenario"], got, want, lines[d["domain"]][:3])


@pytest.fixture(scope="module")
def young_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabHandle]:
    """A lab of its own at hour 0, whatever other tests did to the session's lab."""
    with running_lab(tmp_path_factory.mktemp("young-lab"), domains=150, seed=5) as handle:
        yield handle


def test_rollovers_unfold_over_lab_hours(young_lab: LabHandle, tmp_path: Path) -> None:
    """Advance the lab hour by hour: Postfix agrees with every rollover host's truth each hour,
    and every rollover scenario reports its key change once."""
    lab = young_lab
    start = lab.hour
    assert start == 0
    for _ in range(6):
        hour = lab.advance()
        truth = lab.truth(hour)
        hosts = {h["host"]: h for h in truth.hosts.values()
                 if h["scenario"].startswith("rollover-") or h["scenario"] == "matches-old-cert"}
        lines = run_posttls_finger([f"[{h}]" for h in hosts], lab.resolver, tmp_path / str(hour))
        for name, host in hosts.items():
            got = posttls_finger_outcome(lines[f"[{name}]"])
            assert got == host["verdict"]["rfc"], (hour, name, host["scenario"], got,
                                                  lines[f"[{name}]"][:3])
    truth = lab.truth()
    changed = Counter(r["scenario"] for r in truth.rollovers)
    hosts_per_scenario = Counter(h["scenario"] for h in truth.hosts.values())
    assert set(changed) == {s.id for s in ROLLOVERS} | {"matches-old-cert"}
    assert all(changed[s] == hosts_per_scenario[s] for s in changed)  # once per host
