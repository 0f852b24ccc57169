"""Issue 14: the EHLO name and a contact are required beyond loopback (pure rules)."""

from __future__ import annotations

import pytest

from workers.identity import contact_problem, ehlo_problem, identity_problem, is_loopback

GOOD = ("scan1.dane-research.net", "mailto:scans@dane-research.net")


@pytest.mark.parametrize("name", ["scan1.dane-research.net", "Mx-Probe.Uni-X.DE."])
def test_real_host_names_identify(name: str) -> None:
    assert ehlo_problem(name) is None


@pytest.mark.parametrize("name", ["", "danescan.invalid", "localhost", "scanner",
                                  "scanner.example.org", "a.test", "bad_name.org",
                                  "-x.org", "x" * 64 + ".org"])
def test_default_reserved_or_malformed_names_do_not(name: str) -> None:
    assert ehlo_problem(name) is not None


def test_contact_is_an_address_or_a_url() -> None:
    assert contact_problem("mailto:a@b.org") is None
    assert contact_problem("https://scan.example.net/about") is None
    assert contact_problem("a@b.org") is None
    for bad in ("", "  ", "call me", "a@b.org\nInjected: x", "x@" + "y" * 200):
        assert contact_problem(bad) is not None, bad


@pytest.mark.parametrize(("address", "loop"), [
    ("127.0.0.1", True), ("127.53.0.1:5353", True), ("[::1]:53", True), ("::1", True),
    ("10.255.255.53", False), ("172.30.53.53", False), ("resolver", False), ("", False)])
def test_loopback(address: str, loop: bool) -> None:
    assert is_loopback(address) is loop


def test_defaults_pass_only_in_a_lab_on_loopback() -> None:
    # the lab: loopback resolver, private root
    assert identity_problem("danescan.invalid", "", "127.53.0.53", private_root=True) is None
    # a worker (anchor unknown) on a loopback resolver
    assert identity_problem("danescan.invalid", "", "127.0.0.1", private_root=None) is None
    # the Internet's root, even through a local resolver
    problem = identity_problem("danescan.invalid", "", "127.0.0.1", private_root=False)
    assert problem and "\n" not in problem and "DANESCAN_EHLO_NAME" in problem
    # a resolver elsewhere
    problem = identity_problem("danescan.invalid", "", "172.30.53.53", private_root=True)
    assert problem and "172.30.53.53" in problem
    # a real identity goes anywhere
    assert identity_problem(*GOOD, "172.30.53.53", private_root=False) is None
    # half an identity is not one
    assert identity_problem(GOOD[0], "", "172.30.53.53", None) is not None
    assert identity_problem("danescan.invalid", GOOD[1], "172.30.53.53", None) is not None


def test_scan_refuses_the_default_identity_beyond_loopback(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Refused in one line before any resolver is asked or any database opened."""
    from click.testing import CliRunner

    from danescan.cli import main
    from danescan.startchecks import ROOT_ANCHORS

    for name in ("EHLO_NAME", "CONTACT", "RESOLVER", "SKIP_RESOLVER_CHECK"):
        monkeypatch.delenv(f"DANESCAN_{name}", raising=False)
    listing = tmp_path / "d.txt"
    listing.write_text("example.com\n")
    db = tmp_path / "db"
    # the Internet's root through a loopback resolver (address of the documentation range)
    for resolver in ("127.70.250.1", "192.0.2.53"):
        done = CliRunner().invoke(main, ["scan", str(listing), "--resolver", resolver,
                                         "--trust-anchor", str(ROOT_ANCHORS), "--db", str(db)])
        assert done.exit_code == 2
        assert "DANESCAN_EHLO_NAME" in done.output and done.output.count("\n") == 1
        assert not db.exists()
