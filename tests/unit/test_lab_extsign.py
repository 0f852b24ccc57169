"""The lab's TLD signers the project did not write: BIND's dnssec-signzone (NSEC3 opt-out) and
ldns-signzone (NSEC3), fed the lab's own keys as BIND key files."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import dns.dnssec
import dns.name
import dns.node
import dns.rdataset
import dns.rdatatype
import dns.zone
import pytest
from dns.rdtypes.ANY.NSEC3 import NSEC3

from lab import extsign
from lab.build import zone_key
from lab.signer import render_zone, validity

NOW = int(dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC).timestamp())
CAN_SIGN = {
    method: pytest.mark.skipif(shutil.which(s.tool) is None,
                               reason=f"{s.tool} is missing (Debian package {s.package})")
    for method, s in extsign.SIGNERS.items()
}


def tld_records() -> list[tuple[str, int, str, str]]:
    """A small TLD: secure delegations (DS), insecure ones, in-zone glue, an empty non-terminal."""
    recs = [("com.", 3600, "SOA", "ns1.nic.com. hostmaster.com. 1000 3600 900 604800 300"),
            ("com.", 3600, "NS", "ns1.nic.com."), ("ns1.nic.com.", 3600, "A", "127.53.0.2")]
    for i in range(12):
        owner = f"d{i}.com."
        recs.append((owner, 86400, "NS", f"ns1.{owner}" if i % 3 == 0 else "ns1.dnsop.net."))
        recs.append((owner, 86400, "NS", "ns2.dnsop.net."))
        if i % 3 == 0:
            recs.append((f"ns1.{owner}", 86400, "A", f"127.53.2.{i + 1}"))
        if i % 2 == 0:
            recs.append((owner, 86400, "DS", zone_key(1, f"d{i}.com").ds(owner)))
    return recs


def test_key_files_are_bind_format_and_keep_the_lab_key() -> None:
    key = zone_key(1, "com")
    kf = extsign.key_files("com.", key)
    tag = dns.dnssec.key_id(key.dnskey)  # type: ignore[arg-type]
    assert kf.base == f"Kcom.+013+{tag:05d}"
    assert kf.public == f"com. 3600 IN DNSKEY 257 3 13 {key.dnskey.to_text().split(' ', 3)[3]}\n"
    lines = kf.private.splitlines()
    assert lines[:2] == ["Private-key-format: v1.3", "Algorithm: 13 (ECDSAP256SHA256)"]
    assert lines[2].startswith("PrivateKey: ") and len(lines) == 3
    with pytest.raises(ValueError):
        extsign.key_files("com", key)


def test_commands_ask_for_the_registries_ways_and_the_lab_window() -> None:
    start, end = (extsign.stamp(t) for t in validity(NOW))
    assert (start, end) == ("20261129120000", "20270129120000")
    bind = extsign.dnssec_signzone_argv("com.", "in", "out", "Kcom.+013+00001", NOW)
    assert bind[0] == "dnssec-signzone"
    assert bind[bind.index("-3") + 1] == "-" and "-A" in bind and bind[bind.index("-H") + 1] == "0"
    assert (bind[bind.index("-s") + 1], bind[bind.index("-e") + 1]) == (start, end)
    assert bind[-2:] == ["in", "Kcom.+013+00001"]
    ldns = extsign.ldns_signzone_argv("se.", "in", "out", "Kse.+013+00001", NOW)
    assert ldns[0] == "ldns-signzone" and "-n" in ldns and "-p" not in ldns
    assert (ldns[ldns.index("-i") + 1], ldns[ldns.index("-e") + 1]) == (start, end)


def _signed(method: str, tmp_path: Path) -> tuple[str, dns.zone.Zone]:
    out = tmp_path / "com.zone"
    unsigned = render_zone("com.", tld_records(), None, NOW)
    extsign.sign(method, "com.", unsigned, zone_key(1, "com"), NOW, tmp_path / "work", out)
    text = out.read_text()
    return text, dns.zone.from_text(text, "com.", relativize=False)


@pytest.mark.parametrize("method", [pytest.param(m, marks=CAN_SIGN[m]) for m in extsign.SIGNERS])
def test_signed_zone_keeps_the_ds_window_and_validates(method: str, tmp_path: Path) -> None:
    _text, zone = _signed(method, tmp_path)
    origin = dns.name.from_text("com.")
    key = zone_key(1, "com")
    dnskey = zone.find_rrset(origin, "DNSKEY")
    assert [str(dns.dnssec.make_ds(origin, k, "SHA256")) for k in dnskey] == [key.ds("com.")]
    keys: dict[dns.name.Name, dns.node.Node | dns.rdataset.Rdataset] = {origin: dnskey}
    for name, rtype in ((origin, "SOA"), (origin, "DNSKEY"), (dns.name.from_text("d0.com."), "DS")):
        rdtype = dns.rdatatype.from_text(rtype)
        sigs = zone.find_rrset(name, dns.rdatatype.RRSIG, covers=rdtype)
        assert {(s.inception, s.expiration) for s in sigs} == {validity(NOW)}
        dns.dnssec.validate(zone.find_rrset(name, rdtype), sigs, keys, now=NOW)
    assert zone.get_rdataset(origin, "NSEC3PARAM") is not None
    assert not any(rds.rdtype == dns.rdatatype.NSEC for _n, rds in zone.iterate_rdatasets())


def _nsec3(zone: dns.zone.Zone) -> dict[str, NSEC3]:
    return {n.labels[0].decode().upper(): rd for n, _ttl, rd in zone.iterate_rdatas("NSEC3")
            if isinstance(rd, NSEC3)}


def _hash(name: str) -> str:
    return dns.dnssec.nsec3_hash(name, salt=None, iterations=0, algorithm=1)


@CAN_SIGN["nsec3-optout"]
def test_bind_opt_out_covers_unsigned_delegations(tmp_path: Path) -> None:
    text, zone = _signed("nsec3-optout", tmp_path)
    chain = _nsec3(zone)
    assert chain and all(rd.flags & 1 for rd in chain.values())  # the opt-out flag
    for i in range(12):
        assert (_hash(f"d{i}.com.") in chain) == (i % 2 == 0), i  # only secure ones are matched
    # what the zone parser must read: BIND's multi-line records, DS digests upper case, split
    assert "\t\t\t86400\tDS\t" in text and " (\n" in text
    ds_lines = [ln for ln in text.splitlines() if "\tDS\t" in ln]
    assert ds_lines and all(ln.rstrip().endswith("(") for ln in ds_lines)


@CAN_SIGN["nsec3"]
def test_ldns_nsec3_matches_every_delegation(tmp_path: Path) -> None:
    _text, zone = _signed("nsec3", tmp_path)
    chain = _nsec3(zone)
    assert chain and not any(rd.flags & 1 for rd in chain.values())
    assert all(_hash(f"d{i}.com.") in chain for i in range(12))


def test_a_missing_or_failing_signer_is_one_clear_error(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    key = zone_key(1, "com")
    unsigned = render_zone("com.", tld_records(), None, NOW)
    if shutil.which("dnssec-signzone") is not None:
        with pytest.raises(extsign.SignerError, match=r"dnssec-signzone failed to sign com\."):
            extsign.sign("nsec3-optout", "com.", "com. 3600 IN NS ns1.nic.com.\n", key, NOW,
                         tmp_path / "broken", tmp_path / "broken.zone")
        assert not (tmp_path / "broken.zone").exists()
    empty = tmp_path / "no-tools"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    for method, signer in extsign.SIGNERS.items():
        with pytest.raises(extsign.SignerError) as err:
            extsign.sign(method, "com.", unsigned, key, NOW, tmp_path / method, tmp_path / "x")
        assert f"{signer.tool} is missing" in str(err.value)
        assert signer.package in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ValueError, match="unknown signing method"):
        extsign.sign("nsec5", "com.", unsigned, key, NOW, tmp_path, tmp_path / "x")
