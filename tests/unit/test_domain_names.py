"""Name normalisation (producer.names) and plain domain lists (producer.domains)."""

from __future__ import annotations

from pathlib import Path

import pytest

from producer.names import (
    BadName,
    NameProblem,
    absolute_name,
    is_subdomain,
    label_count,
    normalise_origin,
    wire_length,
)


@pytest.mark.parametrize(
    ("text", "origin", "expected"),
    [
        ("Example", "com.", "example.com."),
        ("EXAMPLE.COM.", None, "example.com."),
        ("@", "com.", "com."),
        ("a.b", "com.", "a.b.com."),
        ("x", ".", "x."),
        (".", None, "."),
        ("bücher", "de.", "xn--bcher-kva.de."),
        ("a\\.b", "com.", "a\\.b.com."),
        ("\\065BC", "com.", "abc.com."),
        ("a\\032b", "com.", "a\\032b.com."),
    ],
)
def test_absolute_name(text: str, origin: str | None, expected: str) -> None:
    assert absolute_name(text, origin) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", NameProblem.EMPTY),
        ("a..b.", NameProblem.EMPTY),
        ("a" * 64 + ".", NameProblem.LABEL_TOO_LONG),
        (".".join(["a" * 63] * 4) + ".", NameProblem.NAME_TOO_LONG),
        ("a\\", NameProblem.BAD_ESCAPE),
        ("a\\300.", NameProblem.BAD_ESCAPE),
        ("x", NameProblem.NO_ORIGIN),
        ("a(b.", NameProblem.BAD_CHAR),
    ],
)
def test_bad_names(text: str, problem: NameProblem) -> None:
    result = absolute_name(text, None)
    assert isinstance(result, BadName)
    assert result.problem == problem


def test_name_length_limit_is_in_wire_octets() -> None:
    ok = ".".join(["a" * 63] * 3 + ["a" * 61]) + "."  # 4*64 - 2 + 1 = 255 octets
    assert wire_length(ok) == 255
    assert absolute_name(ok, None) == ok
    assert isinstance(absolute_name("b" + ok, None), BadName)


def test_subdomain_and_labels_respect_escaped_dots() -> None:
    assert is_subdomain("a.com.", "com.")
    assert not is_subdomain("acom.", "com.")
    assert not is_subdomain("a\\.com.", "com.")  # one label "a.com" under the root
    assert is_subdomain("x.a\\.com.", "a\\.com.")
    assert label_count("a\\.b.com.") == 2
    assert normalise_origin("COM") == "com."


def test_domain_list(tmp_path: Path) -> None:
    from producer.domains import DomainListStats, read_domains

    path = tmp_path / "list.txt"
    path.write_text(
        "# a comment\nExample.COM\n\nbücher.de.  # trailing comment\nbad..name\nx" * 1
        + "\n"
        + "a" * 70
        + ".com\nsingle\n",
        encoding="utf-8",
    )
    stats = DomainListStats()
    out = list(read_domains(path, stats))
    assert [(d.name, d.zone, d.ns, d.has_ds) for d in out] == [
        ("example.com.", "com.", (), False),
        ("xn--bcher-kva.de.", "de.", (), False),
        ("x.", ".", (), False),
        ("single.", ".", (), False),
    ]
    assert [d.line for d in out] == [2, 4, 6, 8]
    assert stats.invalid == 2
    assert [e.line for e in stats.examples] == [5, 7]


def test_detect_format(tmp_path: Path) -> None:
    from producer.domains import InputFormat, detect_format

    zone = tmp_path / "a"
    zone.write_text("; zone\n$ORIGIN com.\nx NS ns.x.\n")
    plain = tmp_path / "b"
    plain.write_text("# list\nexample.com\nexample.org\n")
    zone2 = tmp_path / "c"
    zone2.write_text("com. 900 IN SOA a. b. 1 2 3 4 5\n")
    assert detect_format(zone) == InputFormat.ZONE
    assert detect_format(plain) == InputFormat.DOMAINS
    assert detect_format(zone2) == InputFormat.ZONE
