"""Streaming RFC 1035 master-file parser: a TLD zone file in, its delegations out, at constant memory.

What it yields
    One :class:`Delegation` per delegated name strictly below the zone apex: every owner with NS
    records, however deep (``co.uk.`` in a ``uk.`` zone is one). The apex NS/SOA/DNSKEY, glue A/AAAA
    and every other type are read, counted and dropped.

Zone and origin
    The zone (``Delegation.zone``) is fixed at the first record, from, in this order: the
    ``origin`` argument; the first ``$ORIGIN`` seen; the owner of the first record when it is an
    absolute SOA (zone files begin with their SOA); the file name (``com.zone``, ``com.txt.gz`` ->
    ``com.``); else the root. Later ``$ORIGIN`` lines change how relative names are completed, not
    the zone.

Grouping and memory
    Consecutive NS/DS records of one owner are merged into one delegation; records of other types in
    between (glue) do not break the group. Memory holds one group plus bounded caches. An owner that
    reappears later, after other NS/DS owners, is emitted again with the later records only:
    downstream deduplicates by name (the scan tables are keyed by it). ``lru_window=K`` merges
    re-appearances within the last K owners before emitting, at the cost of emitting each
    delegation up to K owners late. A DS-only group (DS and no NS, e.g. a DS that reappears after
    its NS group was emitted, or plain junk) is counted in ``ParseStats.ds_without_ns`` and dropped,
    unless ``emit_ds_only=True``, which yields it with ``ns=()`` and ``has_ds=True`` so downstream
    can merge it by name.

Syntax
    ``$ORIGIN`` (absolute or relative to the current origin), ``$TTL``, relative names, ``@``,
    omitted owner (line starts with blank), omitted TTL/class in any order, TTL units (``1h30m``),
    parentheses over lines, ``;`` comments outside quotes, quoted strings, ``\\X`` and ``\\DDD``
    escapes, any case. ``$INCLUDE`` is refused (counted as malformed, reason ``include-refused``):
    registry zone files do not use it, and reading files named inside untrusted input is a hazard.
    Classes other than IN are counted in ``ParseStats.other_class`` and skipped. Owners of record
    types that are dropped (glue, SOA, ...) are not validated: only NS/DS owners and NS targets are.

Name servers per delegation
    A delegation keeps its first ``ParserOptions.max_ns`` (64) distinct NS targets, in record
    order; NS records naming others are dropped and counted in ``ParseStats.ns_cut``, so one
    owner with a million NS lines holds 64 names, not a million (every engine alike). When
    ``lru_window`` merges re-appearances, the later group's targets that do not fit are left
    out in sorted order, one count each.

Damaged files
    Files are read through :class:`producer.inputfile.InputFile`: a gzip file cut short or
    corrupt, or a file with NUL bytes or bytes that are not UTF-8, yields the delegations read
    before the damage and then raises :class:`~producer.inputfile.InputDamaged` (with
    ``lines`` set). When reading stopped at the damage, the delegation being read then is not
    yielded: its records may go on past it.

Malformed lines never stop the parse: they are counted by :class:`Reason`, the first
``max_examples`` are kept with line number and text, and the line is skipped. An unclosed ``(`` is
given up after ``MAX_PAREN_LINES`` lines or ``MAX_PAREN_BYTES`` bytes (or at end of file); the lines
it swallowed are then parsed again on their own.

Speed
    Blocks of about 1 MiB are read at once. The common lines (``OWNER [TTL] [IN] TYPE RDATA`` in
    plain ASCII) are read by the fast path; every other line (directives, quotes, escapes,
    omitted owners, other classes, TTL units, anything odd) goes, in order and with the same
    state, through the careful tokenizer (:mod:`producer.zonesyntax`). A line is taken by the
    fast path only when the careful path would read it the same way, so what counts as malformed
    does not depend on the path; ``ParserOptions(strict=True)`` sends every line through the
    careful one, and tests check that all agree (same delegations, same statistics).
    The fast path has two engines (``ZoneParser.engine``): ``c``, the optional extension
    ``producer/_zonescan.c`` (:mod:`producer.zonec`: lines as SSE2 bit masks, NS/DS grouped and
    the Delegation tuples built in C, one Python call per block and per odd line; it also takes
    parentheses over a few lines and trailing comments), and ``numpy`` (:mod:`producer.zonefast`,
    used when the extension is not built, or with ``DANESCAN_ZONE_ENGINE=numpy``).
    ``benchmarks/bench_zonefile.py`` measures them against plain line reading of the same
    .com-shaped file (CPU time): see its output in the commit that changed this paragraph; the C
    engine is at about a third of ``for line in open(path)`` and a quarter of binary line reading
    (the numpy one at 0.06, the careful path at 0.006). Files full of odd lines run at the
    careful speed.

Module layout
    :mod:`producer.zonetypes` (what is yielded, options, stats), :mod:`producer.zonesyntax`
    (vocabulary, TTLs, tokenizer), :mod:`producer.zoneparser` (state, careful path, groups),
    :mod:`producer.zonefast` (the block classifier); this module opens files and streams.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import IO, Final, Protocol

from producer.inputfile import InputDamaged, InputFile
from producer.zoneparser import (
    BLOCK_BYTES,
    MAX_PAREN_BYTES,
    MAX_PAREN_LINES,
    ZoneParser,
)
from producer.zonesyntax import MAX_TTL, parse_ttl, tokenize, zone_from_filename
from producer.zonetypes import (
    Delegation,
    MalformedLine,
    ParserOptions,
    ParseStats,
    Reason,
)

__all__ = [
    "MAX_PAREN_BYTES",
    "MAX_PAREN_LINES",
    "MAX_TTL",
    "Delegation",
    "InputDamaged",
    "MalformedLine",
    "ParseStats",
    "ParserOptions",
    "Reason",
    "Source",
    "ZoneParser",
    "parse_ttl",
    "read_zone",
    "tokenize",
    "zone_from_filename",
]

Source = str | os.PathLike[str] | IO[bytes] | IO[str]
MAX_LINE_BYTES: Final = 8 << 20  # a longer line is cut in pieces (each then a malformed line)


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def _is_gzip(f: IO[bytes]) -> bool:
    if isinstance(f, io.BufferedReader):
        return f.peek(2)[:2] == b"\x1f\x8b"
    return False


class _Blocks:
    """Blocks of whole lines of a binary stream (the last may lack its newline); counts bytes."""

    def __init__(self, stream: Readable, block_size: int = BLOCK_BYTES) -> None:
        self.stream = stream
        self.block_size = block_size
        self.nbytes = 0

    def __iter__(self) -> Iterator[bytes]:
        read = self.stream.read
        carry = b""
        while True:
            chunk = read(self.block_size)
            if not chunk:
                break
            self.nbytes += len(chunk)
            cut = chunk.rfind(b"\n") + 1
            if not cut:
                carry += chunk  # a line longer than a block
                if len(carry) > MAX_LINE_BYTES:  # no newline for megabytes: cut, stay flat
                    yield carry + b"\n"
                    carry = b""
                continue
            if cut == len(chunk) and not carry:
                yield chunk
            else:  # one copy, not two
                yield b"".join((carry, memoryview(chunk)[:cut]))
            carry = chunk[cut:]
        if carry:
            yield carry


def _file_blocks(path: str, box: list[_Blocks]) -> Iterator[bytes]:
    """The blocks of a file (plain or gzip) up to its damage, which is raised after them."""
    with InputFile(path) as f:
        box.append(_Blocks(f))
        yield from box[0]
        f.check()


class _Encoded:
    """A text stream read as UTF-8 bytes."""

    def __init__(self, source: IO[str]) -> None:
        self.source = source

    def read(self, size: int = -1, /) -> bytes:
        return self.source.read(size).encode("utf-8", "surrogateescape")


def read_zone(
    source: Source, options: ParserOptions | None = None
) -> tuple[ZoneParser, Iterator[Delegation]]:
    """Open a zone and return its parser (for ``stats()``) and the delegations, lazily.

    The file is opened on first iteration and closed when the iterator ends or is closed.
    """
    if isinstance(source, str | os.PathLike):
        path = os.fspath(source)
        box: list[_Blocks] = []
        parser = ZoneParser(options, name_hint=path)
        it = parser.parse_blocks(_file_blocks(path, box), lambda: box[0].nbytes if box else 0)
        return parser, it
    if isinstance(source, io.TextIOBase):
        parser = ZoneParser(options)
        text = _Blocks(_Encoded(source))
        return parser, parser.parse_blocks(iter(text), lambda: text.nbytes)
    hint = getattr(source, "name", None)
    parser = ZoneParser(options, name_hint=hint if isinstance(hint, str) else None)
    stream: Readable = source  # type: ignore[assignment]
    if isinstance(source, io.BufferedReader) and _is_gzip(source):
        stream = InputFile(hint if isinstance(hint, str) else "<stream>", source)
    blocks = _Blocks(stream)
    return parser, parser.parse_blocks(iter(blocks), lambda: blocks.nbytes)
