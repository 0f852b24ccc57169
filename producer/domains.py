"""Plain domain lists (one name per line) as scan input, and telling them from zone files.

A list yields the same :class:`~producer.zonefile.Delegation` as a zone, with ``ns=()``,
``has_ds=False`` and ``zone`` the name's parent (``example.co.uk.`` -> ``co.uk.``; a one-label
name -> ``.``), so a scan can take either input. ``#`` starts a comment; blank lines are skipped;
Unicode names become A-labels; invalid names are counted with their line and skipped.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from producer.inputfile import InputDamaged, InputFile
from producer.names import BadName, NameProblem, normalise_origin
from producer.printable import printable
from producer.zonefile import Delegation, ParserOptions, read_zone

_SNIFF_LINES = 50


class InputFormat(StrEnum):
    ZONE = "zone"
    DOMAINS = "domains"


@dataclass(frozen=True, slots=True)
class InvalidDomain:
    line: int
    text: str  # the line, printable (producer.printable) and at most 120 characters
    problem: NameProblem


@dataclass
class DomainListStats:
    """Running totals of one list; the first ``max_examples`` invalid lines are kept."""

    lines: int = 0
    domains: int = 0
    invalid: int = 0
    max_examples: int = 20
    examples: list[InvalidDomain] = field(default_factory=list)


def _parent(name: str) -> str:
    if "\\" in name:  # escaped dots: leave the zone to the root rather than guess
        return "."
    _, _, rest = name.partition(".")
    return rest if rest else "."


def parse_domains(lines: Iterator[str], stats: DomainListStats) -> Iterator[Delegation]:
    """Pure: lines of text in, delegations out."""
    for lineno, raw in enumerate(lines, start=1):
        stats.lines = lineno
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        result = normalise_origin(text)  # absolute, with or without the trailing dot
        if isinstance(result, BadName) or result == "." or any(c.isspace() for c in text):
            stats.invalid += 1
            if len(stats.examples) < stats.max_examples:
                problem = result.problem if isinstance(result, BadName) else NameProblem.BAD_CHAR
                stats.examples.append(InvalidDomain(lineno, printable(text), problem))
            continue
        stats.domains += 1
        yield Delegation(result, _parent(result), (), False, lineno)


def _open_text(path: str | os.PathLike[str]) -> tuple[io.TextIOWrapper, InputFile]:
    raw = InputFile(path)
    buffered = io.BufferedReader(raw, buffer_size=1 << 20)  # few reads: each copies a slice
    text = io.TextIOWrapper(buffered, encoding="utf-8", errors="replace")
    return text, raw


def read_domains(
    path: str | os.PathLike[str], stats: DomainListStats | None = None
) -> Iterator[Delegation]:
    """The domains of a list file (plain or gzip). A damaged file
    (:class:`~producer.inputfile.InputDamaged`) yields the names before the damage (a line cut
    by it is not one), then raises it with the lines read."""
    stats = stats if stats is not None else DomainListStats()
    f, raw = _open_text(path)
    with f:
        try:
            yield from parse_domains(iter(f), stats)
            raw.check()
        except InputDamaged as damage:
            damage.lines = stats.lines
            raise


def detect_format(path: str | os.PathLike[str]) -> InputFormat:
    """Zone file or domain list, from the first lines that are not comments.

    A zone file has a ``$`` directive or a line with at least three fields where one is a record
    type such as SOA or NS; a domain list has one field per line.
    """
    f, _ = _open_text(path)
    with f:
        seen = 0
        try:
            for raw in f:
                text = raw.strip()
                if not text or text[0] in ";#":
                    continue
                if text.startswith("$"):
                    return InputFormat.ZONE
                fields = text.split(";", 1)[0].split()
                if len(fields) >= 3 or raw[0] in " \t":
                    return InputFormat.ZONE
                seen += 1
                if seen >= _SNIFF_LINES:
                    break
        except InputDamaged:
            pass  # told from the lines before it; the reader reports the damage
    return InputFormat.DOMAINS


def read_input(
    path: str | os.PathLike[str], options: ParserOptions | None = None
) -> Iterator[Delegation]:
    """Delegations of either kind of input file, told apart by :func:`detect_format`."""
    if detect_format(path) == InputFormat.ZONE:
        _, it = read_zone(path, options)
        return it
    return read_domains(path)
