"""The exclusion list: parsing (ZMap's blocklist format plus names) and matching. Pure."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from workers.exclusion import ExclusionError, Exclusions, load, parse
from workers.smtp.evidence import ProbeTarget
from workers.smtp.excluded import split_excluded
from workers.vocab import SmtpStatus


def lst(*lines: str) -> Exclusions:
    return parse("\n".join(lines).encode(), "list.txt")


# --- addresses ----------------------------------------------------------------------------------


def test_cidr_edges_v4() -> None:
    e = lst("192.0.2.0/24")
    assert not e.excludes_address("192.0.1.255")
    assert e.excludes_address("192.0.2.0")
    assert e.excludes_address("192.0.2.255")
    assert not e.excludes_address("192.0.3.0")


def test_single_addresses_and_host_prefixes() -> None:
    e = lst("198.51.100.7", "203.0.113.9/32", "2001:db8::25")
    assert e.excludes_address("198.51.100.7")
    assert not e.excludes_address("198.51.100.6")
    assert not e.excludes_address("198.51.100.8")
    assert e.excludes_address("203.0.113.9")
    assert not e.excludes_address("203.0.113.10")
    assert e.excludes_address("2001:db8::25")
    assert e.excludes_address("2001:0db8:0:0:0:0:0:25")
    assert not e.excludes_address("2001:db8::26")


def test_cidr_edges_v6_and_families_apart() -> None:
    e = lst("2001:db8:1::/48")
    assert e.excludes_address("2001:db8:1::")
    assert e.excludes_address("2001:db8:1:ffff:ffff:ffff:ffff:ffff")
    assert not e.excludes_address("2001:db8:2::")
    assert not e.excludes_address("2001:db8:0:ffff:ffff:ffff:ffff:ffff")
    # the v4 address with the same integer value as a v6 one is another address
    assert not lst("::/96").excludes_address("0.0.0.1")
    assert not lst("0.0.0.0/8").excludes_address("::1")


def test_v4_mapped_v6_counts_as_v4() -> None:
    e = lst("10.0.0.0/8")
    assert e.excludes_address("::ffff:10.1.2.3")
    assert not e.excludes_address("::ffff:11.1.2.3")


def test_a_v4_mapped_entry_excludes_the_v4_addresses_too() -> None:
    """An entry written in the mapped form means the same IPv4 addresses (ZMap-style lists are
    read by people who do not know which form the scanner compares)."""
    e = lst("::ffff:10.0.0.0/104")
    assert e.excludes_address("10.1.2.3") and e.excludes_address("::ffff:10.1.2.3")
    assert not e.excludes_address("11.1.2.3")
    assert e.networks == 1  # one entry, whatever it is folded into
    # only an entry inside ::ffff:0:0/96 is read so: "::/0" means IPv6, not every v4 address
    assert not lst("::/0").excludes_address("192.0.2.1")


def test_host_bits_set_take_the_wider_range() -> None:
    e = lst("10.1.2.3/8")
    assert e.excludes_address("10.200.0.1")


def test_overlapping_and_adjacent_ranges_merge() -> None:
    e = lst("10.0.0.0/24", "10.0.1.0/24", "10.0.0.128/25", "10.0.3.0/24")
    assert e.v4 == ((0x0A000000, 0x0A000300), (0x0A0001FF, 0x0A0003FF))
    assert e.excludes_address("10.0.1.255")
    assert not e.excludes_address("10.0.2.0")
    assert e.networks == 4


def test_not_an_address_is_not_excluded() -> None:
    e = lst("0.0.0.0/0", "::/0")
    assert e.excludes_address("127.0.0.1") and e.excludes_address("::1")
    assert not e.excludes_address("mx.example.com")
    assert not e.excludes_address("")


# --- names --------------------------------------------------------------------------------------


def test_suffix_boundaries() -> None:
    e = lst("example.com")
    assert e.excludes_name("example.com")
    assert e.excludes_name("a.example.com")
    assert e.excludes_name("_25._tcp.mx.a.example.com.")
    assert not e.excludes_name("badexample.com")
    assert not e.excludes_name("example.com.evil.net")
    assert not e.excludes_name("com")
    assert not e.excludes_name("example.org")


def test_trailing_dots_and_case() -> None:
    e = lst("Example.COM.")
    for name in ("example.com", "EXAMPLE.com.", "Mx.Example.Com."):
        assert e.excludes_name(name), name
    assert e.suffixes == frozenset({"example.com"})


def test_idna_names_either_form() -> None:
    e = lst("bücher.example")
    assert e.suffixes == frozenset({"xn--bcher-kva.example"})
    assert e.excludes_name("mx.xn--bcher-kva.example.")
    assert e.excludes_name("MX.Bücher.example")
    assert not e.excludes_name("bucher.example")
    f = lst("xn--bcher-kva.example")
    assert f.excludes_name("bücher.example")


def test_a_tld_excludes_its_names_only() -> None:
    e = lst("se")
    assert e.excludes_name("a.b.se") and e.excludes_name("se.")
    assert not e.excludes_name("se.example.com")
    assert not e.excludes_name("base")


def test_comments_blanks_and_counts() -> None:
    data = b"# header\n\n  192.0.2.0/24   # a comment\nexample.com#no space\n\t\n2001:db8::/32\n"
    e = parse(data, "x")
    assert e.entries == 3
    assert e.sha256 == hashlib.sha256(data).hexdigest()
    assert e.excludes_name("www.example.com")
    assert e.describe() == {"exclude": "x", "exclude_sha256": e.sha256, "exclude_entries": 3,
                            "exclude_networks": 2, "exclude_suffixes": 1}


def test_empty_list_excludes_nothing() -> None:
    e = lst("# nothing yet", "")
    assert e.empty and e.entries == 0
    assert not e.excludes_name("example.com") and not e.excludes_address("192.0.2.1")
    assert load("").empty


# --- errors name FILE:LINE ----------------------------------------------------------------------


@pytest.mark.parametrize(("line", "why"), [
    ("10.0.0", "not an IPv4/IPv6 address"),
    ("300.1.1.1/8", "not an IPv4/IPv6 address"),
    ("10.0.0.0/33", "not an IPv4/IPv6 address"),
    ("2001:db8::/129", "not an IPv4/IPv6 address"),
    ("2001:db8:::1", "not an IPv4/IPv6 address"),
    ("exa$mple.com", "neither an address range nor a domain name"),
    ("a..example.com", "neither an address range nor a domain name"),
    ("*.example.com", "wildcards"),
    (".", "root"),
    ("example.com 192.0.2.1", "one entry a line"),
    ("x" * 64 + ".com", "neither an address range nor a domain name"),
])
def test_malformed_line_names_file_and_line(line: str, why: str) -> None:
    data = f"# ok\nexample.org\n{line}  # bad\n192.0.2.0/24\n".encode()
    with pytest.raises(ExclusionError) as err:
        parse(data, "/etc/danescan/exclude.txt")
    text = str(err.value)
    assert text.startswith("/etc/danescan/exclude.txt:3: "), text
    assert why in text
    assert "\n" not in text


def test_not_utf8_is_an_error_with_its_line() -> None:
    with pytest.raises(ExclusionError, match=r"^f:2: not UTF-8"):
        parse(b"example.com\n\xff\xfe.example\n", "f")


def test_load_reads_a_file_and_reports_a_missing_one(tmp_path: Path) -> None:
    p = tmp_path / "ex.txt"
    p.write_text("example.net\n")
    assert load(str(p)).excludes_name("mx.example.net")
    with pytest.raises(ExclusionError, match=r"cannot read the exclusion list"):
        load(str(tmp_path / "missing.txt"))


# --- the SMTP filter ----------------------------------------------------------------------------


def test_split_excluded_keeps_order_and_records_the_skipped() -> None:
    e = lst("127.9.0.0/16", "::1")
    targets = [ProbeTarget("a.example", "127.8.0.1"), ProbeTarget("b.example", "127.9.3.4"),
               ProbeTarget("c.example", "::1"), ProbeTarget("d.example", "127.10.0.1")]
    keep, skipped = split_excluded(targets, e)
    assert [t.host for t in keep] == ["a.example", "d.example"]
    assert [(s.host, s.ip, s.status) for s in skipped] == [
        ("b.example", "127.9.3.4", SmtpStatus.EXCLUDED), ("c.example", "::1", SmtpStatus.EXCLUDED)]
    assert all(not s.timings_ms and not s.chain for s in skipped)


# --- the commands refuse a list they cannot read, before any query -----------------------------


def test_scan_refuses_a_malformed_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from danescan.scan_cli import scan

    zone = tmp_path / "domains.txt"
    zone.write_text("example.com\n")
    anchor = tmp_path / "anchor.txt"
    anchor.write_text(". IN DS 1 8 2 " + "00" * 32 + "\n")
    bad = tmp_path / "exclude.txt"
    bad.write_text("# opt-outs\n192.0.2.0/24\n10.0.0\n")
    monkeypatch.delenv("DANESCAN_EXCLUDE", raising=False)
    # a resolver nobody listens on: the list is read first, so it is never asked
    result = CliRunner().invoke(scan, [str(zone), "--trust-anchor", str(anchor), "--resolver",
                                       "127.254.79.1", "--db", str(tmp_path / "db"),
                                       "--exclude", str(bad)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"danescan: {bad}:3: '10.0.0' is not an IPv4/IPv6 address or CIDR range"]
    assert not (tmp_path / "db").exists()
    monkeypatch.setenv("DANESCAN_EXCLUDE", str(tmp_path / "missing.txt"))
    result = CliRunner().invoke(scan, [str(zone), "--trust-anchor", str(anchor), "--resolver",
                                       "127.254.79.1", "--db", str(tmp_path / "db")])
    assert result.exit_code == 2 and "missing.txt: cannot read the exclusion list" in result.stderr


# --- the same list at the recursive resolver ----------------------------------------------------


def test_unbound_config_is_valid_and_complete(tmp_path: Path) -> None:
    import shutil
    import subprocess

    from workers.exclusion import unbound_config

    e = lst("example.com", "10.0.0.0/24", "10.0.1.0/24", "bücher.example", "2001:db8::/32",
            "192.0.2.7")
    assert e.networks_text() == ["10.0.0.0/23", "192.0.2.7/32", "2001:db8::/32"]
    text = unbound_config(e)
    assert text.splitlines()[1:] == [
        "server:",
        '    local-zone: "example.com." always_refuse',
        '    local-zone: "xn--bcher-kva.example." always_refuse',
        "    do-not-query-address: 10.0.0.0/23",
        "    do-not-query-address: 192.0.2.7/32",
        "    do-not-query-address: 2001:db8::/32",
    ]
    checkconf = shutil.which("unbound-checkconf") or "/usr/sbin/unbound-checkconf"
    if not Path(checkconf).exists():
        pytest.fail("unbound-checkconf is missing: the lab's packages are not installed")
    (tmp_path / "exclude.conf").write_text(text)
    (tmp_path / "unbound.conf").write_text(
        f'server:\n  username: ""\n  chroot: ""\ninclude: "{tmp_path / "exclude.conf"}"\n')
    out = subprocess.run([checkconf, str(tmp_path / "unbound.conf")], capture_output=True,
                         text=True, timeout=30, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def test_enqueue_refuses_a_malformed_list_before_redis(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from danescan.cluster_cli import enqueue_cmd

    zone = tmp_path / "domains.txt"
    zone.write_text("example.com\n")
    bad = tmp_path / "exclude.txt"
    bad.write_text("example.org\n*.example.net\n")
    monkeypatch.setenv("DANESCAN_REDIS_URL", "redis://127.254.79.1:6379/0")  # never reached
    result = CliRunner().invoke(enqueue_cmd, [str(zone), "--scan-id", "s", "--resolver",
                                              "127.254.79.1", "--exclude", str(bad)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"danescan: {bad}:2: '*.example.net': wildcards are not entries (a name already covers "
        "all names below it)"]
