"""The streaming zone-file parser: syntax, malformed lines, grouping, gzip, constant behaviour."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from producer.zonefile import (
    Delegation,
    ParserOptions,
    Reason,
    ZoneParser,
    parse_ttl,
    read_zone,
    zone_from_filename,
)


def parse(text: str, **opts: object) -> tuple[list[Delegation], ZoneParser]:
    parser = ZoneParser(ParserOptions(**opts))  # type: ignore[arg-type]
    out = list(parser.parse(text.encode("utf-8").splitlines(keepends=True)))
    return out, parser


def by_name(ds: list[Delegation]) -> dict[str, Delegation]:
    return {d.name: d for d in ds}


HEAD = "$ORIGIN com.\n$TTL 86400\n@ IN SOA a.gtld. nstld. 1 2 3 4 5\n"


def test_basic_delegations_and_apex() -> None:
    out, p = parse(
        HEAD + "@ NS a.gtld-servers.net.\nexample NS ns1.example\nexample NS ns2.other.net.\n"
        "ns1.example A 192.0.2.1\n"
    )
    assert out == [
        Delegation("example.com.", "com.", ("ns1.example.com.", "ns2.other.net."), False, 5)
    ]
    st = p.stats()
    assert st.apex_records == 1
    assert st.records == 5
    assert st.delegations == 1
    assert st.zone == "com."
    assert st.malformed == 0


def test_case_ttl_class_orders_and_units() -> None:
    out, p = parse(
        HEAD + "A1 3600 IN NS NS1.X.NET.\nA2 IN 1h30m NS ns.x.net.\nA3 1W2d ns ns.x.net.\n"
        "a4 in ns ns.x.net.\n"
    )
    assert [d.name for d in out] == ["a1.com.", "a2.com.", "a3.com.", "a4.com."]
    assert out[0].ns == ("ns1.x.net.",)
    assert p.stats().malformed == 0


def test_continuation_lines_inherit_owner() -> None:
    out, _ = parse(HEAD + "example NS ns1.x.net.\n    NS ns2.x.net.\n\tDS 1 8 2 AB\n")
    assert out == [Delegation("example.com.", "com.", ("ns1.x.net.", "ns2.x.net."), True, 4)]


def test_at_and_absolute_and_origin_change() -> None:
    text = (
        HEAD + "$ORIGIN example.com.\n@ NS ns1\nsub NS ns.sub\n$ORIGIN com.\nother.com. NS ns.x.\n"
    )
    out, _ = parse(text)
    d = by_name(out)
    assert d["example.com."].ns == ("ns1.example.com.",)
    assert d["sub.example.com."].ns == ("ns.sub.example.com.",)  # deeper delegations count
    assert d["other.com."].ns == ("ns.x.",)
    assert all(x.zone == "com." for x in out)


def test_parentheses_comments_quotes_and_escapes() -> None:
    text = (
        HEAD
        + "; a full comment line\n"
        + "example NS ns1.x.net. ; trailing comment (with parens\n"
        + "example DS 1234 8 2 (\n   ABCDEF ; inside\n   0123 )\n"
        + 'txt TXT "a ; not a comment" "b (x"\n'
        + "a\\.b NS ns.x.net.\n"
        + "\\065bc NS ns.x.net.\n"
        + "spanning ( NS\n ns.x.net. )\n"
    )
    out, p = parse(text)
    d = by_name(out)
    assert d["example.com."].has_ds and d["example.com."].ns == ("ns1.x.net.",)
    assert "a\\.b.com." in d
    assert "abc.com." in d
    assert d["spanning.com."].line == 12
    assert p.stats().malformed == 0
    assert p.stats().lines == 13


def test_unicode_owner_becomes_a_label_and_bad_idn_is_malformed() -> None:
    out, p = parse(
        HEAD + "bücher NS ns.x.net.\nbad\u0000 NS ns.x.net.\n" + "ü" * 60 + " NS ns.x.net.\n"
        + "i♥ NS ns.x.net.\n" + "\\046ü NS ns.x.net.\n"
    )
    # a label IDNA 2008 refuses is kept as raw octets; 60 of them are too long for a label
    assert [d.name for d in out] == ["xn--bcher-kva.com.", "i\\226\\153\\165.com."]
    assert p.stats().malformed_by_reason == {Reason.BAD_NAME: 1, Reason.LABEL_TOO_LONG: 1,
                                             Reason.BAD_IDN: 1}


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("x 99999999999 NS ns.x.", Reason.BAD_TTL),
        ("x 1q NS ns.x.", Reason.BAD_TTL),
        ("x FOO ns.x.", Reason.UNKNOWN_TYPE),
        ("this is garbage", Reason.UNKNOWN_TYPE),
        ("x NS", Reason.BAD_RDATA),
        ("x NS a. b.", Reason.BAD_RDATA),
        ("x DS 1 8", Reason.BAD_RDATA),
        ("a..b NS ns.x.", Reason.BAD_NAME),
        ("a" * 64 + " NS ns.x.", Reason.LABEL_TOO_LONG),
        (".".join(["a" * 60] * 5) + " NS ns.x.", Reason.NAME_TOO_LONG),
        ("x NS ns.x. )", Reason.UNBALANCED_PARENS),
        ('x TXT "open', Reason.UNTERMINATED_QUOTE),
        ("x.org. NS ns.x.", Reason.OUT_OF_ZONE),
        ("$INCLUDE other.zone", Reason.INCLUDE_REFUSED),
        ("$GENERATE 1-2 x$ NS ns", Reason.BAD_DIRECTIVE),
        ("$TTL 1x", Reason.BAD_TTL),
        ("x IN", Reason.GARBAGE),
    ],
)
def test_malformed_lines_are_counted_with_line_numbers(line: str, reason: Reason) -> None:
    out, p = parse(HEAD + line + "\ngood NS ns.x.net.\n")
    st = p.stats()
    assert st.malformed == 1, st.examples
    assert st.malformed_by_reason == {reason: 1}
    assert st.examples[0].line == 4
    assert st.examples[0].reason == reason
    assert [d.name for d in out] == ["good.com."]


def test_unclosed_parenthesis_swallowed_lines_are_reparsed() -> None:
    out, p = parse(HEAD + "x DS 1 8 2 ( AB\ny NS ns.x.net.\nz NS ns.x.net.\n")
    st = p.stats()
    assert st.malformed_by_reason == {Reason.UNBALANCED_PARENS: 1}
    assert st.examples[0].line == 4
    assert [(d.name, d.line) for d in out] == [("y.com.", 5), ("z.com.", 6)]
    assert st.lines == 6


def test_bad_encoding_and_examples_cap() -> None:
    raw = HEAD.encode() + b"\xff\xfe NS ns.x.\n" * 30 + b"ok NS ns.x.net.\n"
    p = ZoneParser(ParserOptions(max_examples=5))
    out = list(p.parse(raw.splitlines()))
    st = p.stats()
    assert st.malformed == 30
    assert len(st.examples) == 5
    assert [e.line for e in st.examples] == [4, 5, 6, 7, 8]
    assert [d.name for d in out] == ["ok.com."]


def test_other_classes_are_counted_and_skipped() -> None:
    out, p = parse(HEAD + "x CH NS ns.x.net.\n  NS ns2.x.net.\ny IN NS ns.x.net.\n")
    assert [d.name for d in out] == ["y.com."]
    assert p.stats().other_class == 2


def test_ds_only_is_counted_not_emitted_unless_asked() -> None:
    text = HEAD + "a NS ns.x.net.\nb NS ns.x.net.\na DS 1 8 2 AB\nonly DS 1 8 2 AB\n"
    out, p = parse(text)
    assert [d.name for d in out] == ["a.com.", "b.com."]
    assert p.stats().ds_without_ns == 2
    out, _ = parse(text, emit_ds_only=True)
    assert [(d.name, d.ns, d.has_ds) for d in out][2:] == [
        ("a.com.", (), True),
        ("only.com.", (), True),
    ]


def test_reappearing_owner_is_emitted_again_or_merged_by_window() -> None:
    text = HEAD + "a NS ns1.x.net.\nb NS ns.x.net.\na NS ns2.x.net.\na DS 1 8 2 AB\n"
    out, _ = parse(text)
    assert [d.name for d in out] == ["a.com.", "b.com.", "a.com."]
    out, p = parse(text, lru_window=4)
    d = by_name(out)
    assert len(out) == 2
    assert d["a.com."] == Delegation("a.com.", "com.", ("ns1.x.net.", "ns2.x.net."), True, 4)
    assert p.stats().ds_without_ns == 0
    out, _ = parse(text, lru_window=1)  # window too small to merge
    assert [x.name for x in out] == ["a.com.", "b.com.", "a.com."]


def test_zone_sources() -> None:
    out, p = parse("@ SOA a. b. 1 2 3 4 5\nx NS ns.x.\n", origin="net")
    assert out[0].name == "x.net." and p.stats().zone == "net."
    # no $ORIGIN: an absolute SOA owner names the zone
    out, p = parse("ORG. SOA a. b. 1 2 3 4 5\nx.org. NS ns.x.\n")
    assert out[0].zone == "org."
    # nothing: the file name
    z = ZoneParser(name_hint="/data/co.uk.zone.gz")
    found = list(z.parse([b"@ SOA a. b. 1 2 3 4 5", b"ac NS ns.x."]))
    assert [d.name for d in found] == ["ac.co.uk."]
    assert zone_from_filename("com.txt.gz") == "com."


def test_no_origin_at_all_means_the_root_zone() -> None:
    p = ZoneParser()
    out = list(p.parse([b"x NS ns.x.", b". NS a.root-servers.net."]))
    assert out == [Delegation("x.", ".", ("ns.x.",), False, 1)]
    assert p.stats().zone == "."
    assert p.stats().apex_records == 1


def test_parse_ttl() -> None:
    assert parse_ttl("3600") == 3600
    assert parse_ttl("1h30m") == 5400
    assert parse_ttl("1W") == 604800
    assert parse_ttl("2147483648") is None
    assert parse_ttl("h") is None


def zone_bytes(n: int) -> bytes:
    lines = [HEAD]
    for i in range(n):
        lines.append(f"d{i} NS ns1.h{i % 97}.net.\nd{i} NS ns2.h{i % 97}.net.\n")
        if i % 10 == 0:
            lines.append(f"ns1.d{i} A 192.0.2.1\nd{i} DS {i % 65536} 13 2 {'AB' * 16}\n")
        if i % 1000 == 0:
            lines.append(f"m{i} DS 1 8 2 (\n  ABCD )\nm{i} NS ns.x.net.\n")
    return "".join(lines).encode()


def test_gzip_detected_by_magic_not_name(tmp_path: Path) -> None:
    data = zone_bytes(500)
    gz = tmp_path / "com.zone"  # no .gz suffix on purpose
    gz.write_bytes(gzip.compress(data))
    plain = tmp_path / "plain.txt"
    plain.write_bytes(data)
    p1, it1 = read_zone(gz)
    p2, it2 = read_zone(plain, ParserOptions(origin="com."))
    a, b = list(it1), list(it2)
    assert a == b and len(a) == 500 + 1
    assert p1.stats().bytes_read == len(data) == p2.stats().bytes_read
    with open(gz, "rb") as f:
        _, it3 = read_zone(f)
        assert list(it3) == a
    _, it4 = read_zone(io.StringIO(data.decode()))
    assert list(it4) == a


def test_large_file_counts(tmp_path: Path) -> None:
    n = 200_000
    path = tmp_path / "com.zone"
    path.write_bytes(zone_bytes(n))
    parser, it = read_zone(path)
    count = ds = 0
    for d in it:
        count += 1
        ds += d.has_ds
        assert len(d.ns) in (1, 2)
    st = parser.stats()
    assert count == n + n // 1000 == st.delegations
    assert ds == n // 10 + n // 1000
    assert st.malformed == 0
    assert st.lines == 3 + 2 * n + 2 * (n // 10) + 3 * (n // 1000)
