"""Input text is printed with its control characters escaped and its length bounded."""

from __future__ import annotations

from producer.printable import LIMIT, printable
from producer.zonefile import ParserOptions, ZoneParser


def test_plain_text_is_unchanged() -> None:
    assert printable("example NS ns1.example.net. ; bücher \\065") == (
        "example NS ns1.example.net. ; bücher \\065"
    )


def test_control_and_invisible_characters_are_escaped() -> None:
    assert printable("a\x1b[2J\x07b") == "a\\x1b[2J\\x07b"
    assert printable("tab\there\r\n") == "tab\\there\\r\\n"
    assert printable("x\x7f\x9by") == "x\\x7f\\x9by"  # DEL and the C1 CSI
    assert printable("\u202eevil") == "\\u202eevil"  # right-to-left override
    assert printable("\U000e0041") == "\\U000e0041"  # a tag character
    assert printable(b"\xff\xfeok\x00") == "\\xff\\xfeok\\x00"  # undecodable bytes as bytes


def test_length_is_bounded_with_a_marker() -> None:
    assert len(printable("x" * 10_000)) == LIMIT
    assert printable("x" * 10_000).endswith("...")
    out = printable("\x1b" * 10_000)
    assert len(out) <= LIMIT and out.endswith("...") and "\x1b" not in out
    assert printable("y" * LIMIT) == "y" * LIMIT  # fits exactly: no marker
    assert printable("ab\x01", limit=6) == "ab\\x01"
    assert printable("ab\x01c", limit=6) == "ab..."  # never half an escape


def test_malformed_line_examples_are_printable() -> None:
    parser = ZoneParser(ParserOptions(origin="com."))
    lines = [b"x\x1b]0;owned\x07 NS ns.x.", b"\xff\xfe\x1b[31m NS ns.x.", b"y FOO" + b"\x1b" * 500]
    list(parser.parse(lines))
    examples = parser.stats().examples
    assert [e.text for e in examples][:2] == [
        "x\\x1b]0;owned\\x07 NS ns.x.",
        "\\xff\\xfe\\x1b[31m NS ns.x.",
    ]
    assert all(e.text.isprintable() and len(e.text) <= 120 for e in examples)
