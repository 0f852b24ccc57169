"""``danescan rollover`` against the lab: Knot takes the dynamic updates (TSIG), the lab's
validating unbound serves the answers, a lab mail server switches certificates (lab/dynzones.py).

The dynamic zones have a TTL of 4 s, so the rollover runs in real time through the resolver's
real cache, tick by tick (one tick a second; a tick stands for one of the lab's hours): every
tick, DANE is judged for the MX host with the project's verdict from the TLSA RRset the lab's
unbound returns (AD bit) and the chain the server presents now.

* planned: ``rollover plan``, then ``rollover publish`` each tick, the certificate switched only
  when ``rollover check`` allows it, the old record withdrawn by ``publish --switched``: no tick
  in which DANE fails; posttls-finger verifies the end state.
* hasty: the same records published, the certificate switched at once: DANE fails in the very
  tick of the switch (the resolver still holds the RRset without the next record, for up to one
  TTL), as the plan's rule predicts, and holds again once 2 x TTL have passed.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from danescan.cli import main
from lab import dynzones
from lab.oracles import posttls_finger_outcome, run_posttls_finger
from tests.integration.lab_fixtures import LabHandle
from workers.dane import TlsaRecord, TlsEvidence, dane_verdict
from workers.dane.evidence import TlsaEvidence
from workers.dns import rollover_io as rio
from workers.smtp import ProbeTimeouts, probe_starttls, run
from workers.vocab import DnssecStatus, RfcOutcome, SmtpStatus

pytestmark = [pytest.mark.lab, pytest.mark.slow]


@dataclass(frozen=True)
class Zone:
    name: str
    mx: str
    ip: str
    certs: list[dict[str, str]]
    resolver: str
    primary: str
    tsig_key: str
    lab_dir: Path
    smtpd_pid: int

    def switch(self, gen: int) -> None:
        dynzones.switch(self.lab_dir, self.name, gen, self.smtpd_pid)


def _zone(lab: LabHandle, name: str) -> Zone:
    manifest: dict[str, Any] = json.loads((lab.dir / "lab.json").read_text())
    dyn = manifest["dyn"]
    z = dyn["zones"][name]
    return Zone(name, z["mx"], z["ip"], z["certs"], lab.resolver, dyn["primary"],
                dyn["tsig_key"], lab.dir, int(manifest["pids"]["dyn-smtpd"]))


def observe(z: Zone) -> tuple[bool, tuple[TlsaRecord, ...]]:
    """DANE for the MX host now, as a client of the lab's resolver sees it."""
    answer = rio.tlsa(rio.Server(z.resolver), f"_25._tcp.{z.mx}.")
    assert answer.secure, "the dynamic zone must validate through the lab's unbound"
    evidence = run(probe_starttls(z.mx, z.ip, ehlo_name="rollover.lab.test",
                                  timeouts=ProbeTimeouts(total=10)))
    assert evidence.status is SmtpStatus.OK
    verdict = dane_verdict(z.mx, TlsaEvidence.of(answer.records, DnssecStatus.SECURE),
                           TlsEvidence(SmtpStatus.OK, evidence.chain), dt.datetime.now(dt.UTC))
    return verdict.valid, answer.records


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, ["rollover", *args])


def _common(z: Zone, state: Path, gen_from: int, gen_to: int) -> list[str]:
    return ["--current", z.certs[gen_from]["chain"], "--next", z.certs[gen_to]["chain"],
            "--mx", z.mx, "--resolver", z.resolver, "--state", str(state)]


def _served(z: Zone) -> tuple[TlsaRecord, ...] | None:
    return rio.served(rio.Server(z.primary), f"_25._tcp.{z.mx}.")


def test_planned_rollover_never_fails_and_hasty_one_fails_when_predicted(
        lab: LabHandle, tmp_path: Path) -> None:
    z = _zone(lab, "dynroll1.")
    args = _common(z, tmp_path / "state1.json", 0, 1)
    plan = cli("plan", *args)
    assert plan.exit_code == 0, plan.output
    assert f"for {dynzones.TTL} s: TLSA RRset TTL {dynzones.TTL} s (RRSIG original TTL)" \
        in plan.output
    assert f"2 x {dynzones.TTL} s = {2 * dynzones.TTL} s" in plan.output
    not_yet = cli("check", *args)
    assert not_yet.exit_code == 1 and "publish" in not_yet.output

    ticks: list[tuple[str, bool]] = []
    assert observe(z)[0]  # primes the resolver's cache with the RRset of the current key only
    first = cli("publish", *args, "--tsig-key", z.tsig_key)
    assert first.exit_code == 0, first.output + first.stderr
    assert "published at" in first.output
    again = cli("publish", *args, "--tsig-key", z.tsig_key)  # idempotent: nothing sent twice
    assert again.exit_code == 0 and "published at" not in again.output
    switched_at = None
    for _ in range(6 * dynzones.TTL):
        ok, _records = observe(z)
        ticks.append(("before switch" if switched_at is None else "after switch", ok))
        if switched_at is None and cli("check", *args).exit_code == 0:
            z.switch(1)
            switched_at = time.monotonic()
            done = cli("publish", *args, "--tsig-key", z.tsig_key, "--switched")
            assert done.exit_code == 0, done.output + done.stderr
            assert "withdrawn at" in done.output
        elif switched_at is not None and time.monotonic() - switched_at > 2 * dynzones.TTL + 1:
            break
        time.sleep(1)
    assert switched_at is not None, "the plan never allowed the switch"
    assert all(ok for _, ok in ticks), ticks
    assert any(label == "after switch" for label, _ in ticks)
    state = json.loads((tmp_path / "state1.json").read_text())
    visible = dt.datetime.fromisoformat(state["visible_at"].replace("Z", "+00:00"))
    switched = dt.datetime.fromisoformat(state["switched_at"].replace("Z", "+00:00"))
    assert (switched - visible).total_seconds() >= 2 * dynzones.TTL
    next_record = TlsaRecord.from_text(_next_record(z, 1))
    assert _served(z) == (next_record,)
    assert observe(z) == (True, (next_record,))
    outcome = posttls_finger_outcome(
        run_posttls_finger([f"[{z.mx}]"], z.resolver, tmp_path / "ptf")[f"[{z.mx}]"])
    assert outcome is RfcOutcome.VERIFIED

    # the same rollover without waiting, on another zone
    h = _zone(lab, "dynroll2.")
    hasty_next = TlsaRecord.from_text(_next_record(h, 1))
    # the rule predicts a failure while a resolver may hold the RRset fetched before the next
    # record was published (up to one TTL after that fetch). On a machine so loaded that the
    # publish and the switch take longer than the TTL, the window is missed: then roll back
    # and forth again (gen 1 -> 2 -> ...) until one attempt lands in it.
    failed_in_window = False
    for attempt in range(3):
        assert observe(h)[0]
        primed = time.monotonic()
        step = cli("publish", *_common(h, tmp_path / f"hasty{attempt}.json", attempt,
                                       attempt + 1), "--tsig-key", h.tsig_key)
        assert step.exit_code == 0, step.output + step.stderr
        h.switch(attempt + 1)
        ok, records = observe(h)
        in_window = time.monotonic() - primed < dynzones.TTL
        if in_window:
            assert not ok, "switching at once must fail while the resolver holds the old RRset"
            assert TlsaRecord.from_text(_next_record(h, attempt + 1)) not in records
            failed_in_window = True
        time.sleep(2 * dynzones.TTL)
        assert observe(h)[0], "after 2 x TTL every cache has the RRset with the next record"
        if failed_in_window:
            break
    assert failed_in_window, "the machine never published and switched within one TTL"
    assert hasty_next in (_served(h) or ())


def _next_record(z: Zone, gen: int) -> str:
    result = CliRunner().invoke(main, ["tlsa", "--cert", z.certs[gen]["chain"], "--name", z.mx])
    return result.output.split(" TLSA ", 1)[1].strip()


def test_hook_refuses_until_the_plan_allows(lab: LabHandle, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    z = _zone(lab, "dynroll3.")
    state = tmp_path / "state3.json"
    args = _common(z, state, 0, 1)
    assert cli("publish", *args, "--tsig-key", z.tsig_key).exit_code == 0
    lineage = tmp_path / "live" / "mx"
    lineage.mkdir(parents=True)
    (lineage / "fullchain.pem").write_bytes(Path(z.certs[1]["chain"]).read_bytes())
    monkeypatch.setenv("RENEWED_LINEAGE", str(lineage))
    hook = ["check", "--deploy-hook", "--mx", z.mx, "--resolver", z.resolver, "--state", str(state)]
    early = cli(*hook)
    assert early.exit_code == 1 and "not yet: wait" in early.output, early.output + early.stderr
    # a fake clock for the plan: past the switch time, the hook allows it and records it
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2 * dynzones.TTL + 1)).isoformat()
    allowed = cli(*hook, "--now", later)
    assert allowed.exit_code == 0, allowed.output + allowed.stderr
    assert json.loads(state.read_text())["switched_at"] is not None
    # a certificate with a key that was never planned is refused
    (lineage / "fullchain.pem").write_bytes(Path(z.certs[2]["chain"]).read_bytes())
    refused = cli(*hook)
    assert refused.exit_code == 1 and "not the one planned" in refused.stderr
    # a renewal that keeps the current key: nothing to wait for
    (lineage / "fullchain.pem").write_bytes(Path(z.certs[0]["chain"]).read_bytes())
    same = cli(*hook)
    assert same.exit_code == 0 and "already cover" in same.output, same.output + same.stderr
    # acme.sh's reload command: the certificate from CERT_FULLCHAIN_PATH
    monkeypatch.delenv("RENEWED_LINEAGE")
    monkeypatch.setenv("CERT_FULLCHAIN_PATH", z.certs[1]["chain"])
    assert cli(*hook).exit_code == 0
    monkeypatch.setenv("CERT_FULLCHAIN_PATH", z.certs[2]["chain"])
    assert cli(*hook).exit_code == 1
    monkeypatch.delenv("CERT_FULLCHAIN_PATH")
    assert cli(*hook).exit_code == 2  # neither hook's variables: says so in one line


def test_tsig_key_the_server_refuses(lab: LabHandle, tmp_path: Path) -> None:
    z = _zone(lab, "dynroll3.")
    bad = tmp_path / "bad.key"
    bad.write_text('key "rollover.lab" {\n\talgorithm hmac-sha256;\n'
                   '\tsecret "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA==";\n};\n')
    unknown = tmp_path / "unknown.key"
    unknown.write_text("hmac-sha256:someone.else:d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA==\n")
    before = _served(z)
    for key in (bad, unknown):
        result = cli("publish", *_common(z, tmp_path / f"{key.stem}.json", 1, 2),
                     "--tsig-key", str(key), "--server", z.primary)
        assert result.exit_code == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "refused the TSIG key" in lines[0], result.stderr
    assert _served(z) == before
    garbage = tmp_path / "garbage.key"
    garbage.write_text("hello\n")
    result = cli("publish", *_common(z, tmp_path / "g.json", 1, 2), "--tsig-key", str(garbage))
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1


def test_plan_for_a_name_without_tlsa_uses_the_negative_ttl(lab: LabHandle,
                                                            tmp_path: Path) -> None:
    z = _zone(lab, "dynroll3.")
    result = cli("plan", "--current", z.certs[0]["chain"], "--next", z.certs[1]["chain"],
                 "--mx", f"new-mx.{z.name}", "--resolver", z.resolver,
                 "--state", str(tmp_path / "new.json"))
    assert result.exit_code == 0, result.output + result.stderr
    ttl, soa = dynzones.TTL, dynzones.SOA_TTL
    assert (f"negative TTL {ttl} s = min(SOA TTL {soa}, SOA MINIMUM {ttl}): the TLSA name does "
            "not exist yet") in result.output
    assert result.output.count("; new") == 2  # current and next both to publish


def test_a_resolver_that_does_not_validate_is_refused(lab: LabHandle, tmp_path: Path) -> None:
    z = _zone(lab, "dynroll3.")
    result = cli("check", *_common(z, tmp_path / "nv.json", 0, 1)[:-4], "--resolver", z.primary,
                 "--state", str(tmp_path / "nv.json"))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "not DNSSEC-secure" in lines[0], result.stderr
