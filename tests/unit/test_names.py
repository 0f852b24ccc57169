"""One canonical name form (workers.names): the producer and the DNS stage agree on every name.

IDNA 2008 with the UTS #46 non-transitional mapping, not IDNA 2003: ``faß.de`` and ``fass.de`` are
two domains. ASCII labels are never passed through IDNA, and a label IDNA 2008 refuses is kept as
raw octets: no name crashes a stage, no domain is dropped.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from producer.domains import DomainListStats, read_domains
from producer.inputs import InputStats, iter_inputs
from producer.names import BadName as ProducerBadName
from producer.names import absolute_name
from workers.names import (
    BadName,
    absolute,
    canonical,
    canonical_label,
    normalize_text,
    relative,
)
from workers.psl import SuffixList
from workers.scan.rows import bare

# what a browser or a mail client sends for each (IDNA 2008 + UTS #46 non-transitional)
INTERNATIONAL = {
    "Bücher.example": "xn--bcher-kva.example.",
    "faß.de": "xn--fa-hia.de.",  # IDNA 2003 made it fass.de
    "\u03c3\u03b1\u03c2.gr": "xn--mxa8ab.gr.",  # final sigma kept (IDNA 2003: xn--mxa9ab)
    "\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25\u3002com": "example.com.",  # full-width, ideographic stop
    "Mx.Bücher.example.": "mx.xn--bcher-kva.example.",
}


def test_idna_2003_differs_from_what_we_use() -> None:
    """The case that decides between the two: Python's codec maps ß to ss."""
    assert "faß.de".encode("idna") == b"fass.de"
    assert canonical("faß.de") == "xn--fa-hia.de"


@pytest.mark.parametrize(("text", "expected"), sorted(INTERNATIONAL.items()))
def test_producer_and_worker_agree(text: str, expected: str) -> None:
    produced = absolute_name(absolute(text), None)
    assert produced == expected
    assert normalize_text(text) == expected  # the DNS stage from the raw text
    assert normalize_text(produced) == produced  # and from what the producer hands it
    assert bare(produced) == relative(expected)  # as stored


def test_domain_list_and_zone_file_give_the_worker_form(tmp_path: Path) -> None:
    listing = tmp_path / "domains.txt"
    listing.write_text("".join(f"{t}\n" for t in INTERNATIONAL), encoding="utf-8")
    stats = DomainListStats()
    assert [d.name for d in read_domains(listing, stats)] == list(INTERNATIONAL.values())
    zone = tmp_path / "de.zone"
    zone.write_text("$ORIGIN de.\n$TTL 3600\n@ SOA ns.de. h.de. 1 2 3 4 5\n@ NS ns.de.\n"
                    "faß NS ns.x.net.\nbücher NS ns.x.net.\n", encoding="utf-8")
    inputs = InputStats()
    names = [d.name for d in iter_inputs([str(zone), str(listing)], inputs)]
    assert names[:2] == ["xn--fa-hia.de.", "xn--bcher-kva.de."]
    assert names[2:] == list(INTERNATIONAL.values())
    assert [normalize_text(n) for n in names] == names
    assert inputs.malformed == 0


def test_labels_idna_2008_refuses_are_kept_not_dropped() -> None:
    kept = absolute_name("I♥.example.", None)
    assert kept == "i\\226\\153\\165.example."  # raw UTF-8 octets, escaped (RFC 1035 5.1)
    assert not isinstance(kept, ProducerBadName)
    assert canonical("I♥.example.") == kept
    with pytest.raises(BadName, match="IDNA 2008 refuses"):  # the DNS stage records why
        normalize_text("I♥.example.")


@pytest.mark.parametrize("label", ["☃", "I♥", "ü" * 100, "\udcff", "a\ud800", "‍", "x\u0000"])
def test_canonical_label_never_raises(label: str) -> None:
    out = canonical_label(label)
    assert out.isascii() and out


@pytest.mark.parametrize("text", ["xn--zz.example", "_25._tcp.Mx.Example", "a--b.EXAMPLE", "*.Example"])
def test_ascii_labels_are_not_passed_through_idna(text: str) -> None:
    assert canonical(text) == text.lower()
    assert normalize_text(text) == text.lower() + "."


@pytest.mark.parametrize(
    ("name", "abs_", "rel"),
    [
        ("example.com", "example.com.", "example.com"),
        ("example.com.", "example.com.", "example.com"),
        (".", ".", ""),
        ("", ".", ""),
        ("a\\.", "a\\..", "a\\."),  # an escaped dot ends the label, not the name
        ("a\\\\.", "a\\\\.", "a\\\\"),  # an escaped backslash, then the separator
    ],
)
def test_absolute_and_relative(name: str, abs_: str, rel: str) -> None:
    assert absolute(name) == abs_
    assert relative(name) == rel
    assert relative(absolute(name)) == rel


def test_public_suffix_rules_use_the_same_form() -> None:
    psl = SuffixList.parse(["de", "bücher.example", "example"])
    assert "xn--bcher-kva.example" in psl.rules
    assert psl.registered(normalize_text("Mx.Shop.Bücher.example")) == "shop.xn--bcher-kva.example"
    assert psl.registered(normalize_text("www.faß.de")) == "xn--fa-hia.de"
