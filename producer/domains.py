"""Plain domain lists (one name per line) as scan input, and telling them from zone files.

A list yields the same :class:`~producer.zonefile.Delegation` as a zone, with ``ns=()``,
``has_ds=False`` and ``zone`` the name's parent (``example.co.uk.`` -> ``co.uk.``; a one-label
name -> ``.``), so a scan can take either input. ``#`` starts a comment; blank lines are skipped;
Unicode names become A-labels; invalid names are counted with their line and skipped.
"""

from __future__ import annotations

import gzip
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from producer.names import BadName, NameProblem, normalise_origin
from producer.zonefile import Delegation, ParserOptions, read_zone

_SNIFF_LINES = 50


class InputFormat(StrEnum):
    ZONE = "zone"
    DOMAINS = "domains"


@dataclass(frozen=True, slots=True)
class InvalidDomain:
    line: int
    text: str
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
                stats.examples.append(InvalidDomain(lineno, text[:120], problem))
            continue
        stats.domains += 1
        yield Delegation(result, _parent(result), (), False, lineno)


def _open_text(path: str | os.PathLike[str]) -> io.TextIOBase:
    f = open(path, "rb")  # noqa: SIM115 - returned wrapped, closed by the caller
    if f.peek(2)[:2] == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.GzipFile(fileobj=f), encoding="utf-8", errors="replace")
    return io.TextIOWrapper(f, encoding="utf-8", errors="replace")


def read_domains(
    path: str | os.PathLike[str], stats: DomainListStats | None = None
) -> Iterator[Delegation]:
    """The domains of a list file (plain or gzip)."""
    stats = stats if stats is not None else DomainListStats()
    with _open_text(path) as f:
        yield from parse_domains(iter(f), stats)


def detect_format(path: str | os.PathLike[str]) -> InputFormat:
    """Zone file or domain list, from the first lines that are not comments.

    A zone file has a ``$`` directive or a line with at least three fields where one is a record
    type such as SOA or NS; a domain list has one field per line.
    """
    with _open_text(path) as f:
        seen = 0
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
    return InputFormat.DOMAINS


def read_input(
    path: str | os.PathLike[str], options: ParserOptions | None = None
) -> Iterator[Delegation]:
    """Delegations of either kind of input file, told apart by :func:`detect_format`."""
    if detect_format(path) == InputFormat.ZONE:
        _, it = read_zone(path, options)
        return it
    return read_domains(path)
