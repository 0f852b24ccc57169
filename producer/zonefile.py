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

Malformed lines never stop the parse: they are counted by :class:`Reason`, the first
``max_examples`` are kept with line number and text, and the line is skipped. An unclosed ``(`` is
given up after ``MAX_PAREN_LINES`` lines or ``MAX_PAREN_BYTES`` bytes (or at end of file); the lines
it swallowed are then parsed again on their own.

Speed
    Lines without ``( ) " \\`` or non-ASCII bytes take a fast path: split on blanks, classify the
    type by a dict lookup, and only NS and DS are looked at further. Everything else goes through
    the careful tokenizer. ``benchmarks/bench_zonefile.py`` measures both against plain line reading.
"""

from __future__ import annotations

import gzip
import io
import os
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import chain
from pathlib import Path
from typing import IO, Final, Protocol

import dns.rdatatype

from producer.names import BadName, absolute_name, is_subdomain, normalise_origin

MAX_PAREN_LINES: Final = 200
MAX_PAREN_BYTES: Final = 65536
MAX_TTL: Final = 2**31 - 1
_NAME_CACHE_MAX: Final = 16_384  # NS targets; bounded so memory stays flat
_EXAMPLE_TEXT: Final = 120


@dataclass(frozen=True, slots=True)
class Delegation:
    """A delegated name found in a zone (or a plain domain list, with ``ns=()``)."""

    name: str  # canonical: lowercase, absolute, A-labels
    zone: str  # the zone it was read from (the TLD), canonical
    ns: tuple[str, ...]  # sorted, distinct
    has_ds: bool
    line: int  # line of its first record (1-based)


class Reason(StrEnum):
    """Why a line was skipped as malformed."""

    BAD_TTL = "bad-ttl"
    UNKNOWN_TYPE = "unknown-type"
    BAD_NAME = "bad-name"
    LABEL_TOO_LONG = "label-too-long"
    NAME_TOO_LONG = "name-too-long"
    UNBALANCED_PARENS = "unbalanced-parens"
    UNTERMINATED_QUOTE = "unterminated-quote"
    BAD_RDATA = "bad-rdata"  # NS without exactly one target, DS without key tag/alg/type/digest
    GARBAGE = "garbage"  # no type where one must be, quoted fields before the rdata, ...
    BAD_ENCODING = "bad-encoding"  # not UTF-8
    BAD_IDN = "bad-idn"
    NO_ORIGIN = "no-origin"  # a relative name before any origin is known
    OUT_OF_ZONE = "out-of-zone"  # an NS/DS owner outside the zone
    BAD_DIRECTIVE = "bad-directive"
    INCLUDE_REFUSED = "include-refused"


@dataclass(frozen=True, slots=True)
class MalformedLine:
    line: int
    reason: Reason
    text: str  # the line, cut to 120 characters


@dataclass(frozen=True, slots=True)
class ParseStats:
    """Totals of one parse. Taken as a snapshot; a running parse keeps counting."""

    zone: str | None
    lines: int
    records: int  # resource records read (all types, all classes)
    delegations: int  # delegations yielded
    bytes_read: int  # decompressed bytes of input
    apex_records: int  # NS/DS at the zone apex (not delegations)
    ds_without_ns: int  # DS-only groups (see module doc)
    other_class: int  # records of a class other than IN, skipped
    malformed: int
    malformed_by_reason: dict[Reason, int]
    examples: tuple[MalformedLine, ...]


@dataclass
class _Counters:
    zone: str | None = None
    lines: int = 0
    records: int = 0
    delegations: int = 0
    bytes_read: int = 0
    apex_records: int = 0
    ds_without_ns: int = 0
    other_class: int = 0
    malformed: int = 0
    by_reason: dict[Reason, int] = field(default_factory=dict)
    examples: list[MalformedLine] = field(default_factory=list)


# --- field vocabulary -------------------------------------------------------------------------

_BLANKS: Final = frozenset(b" \t")
_K_NS: Final = 1
_K_DS: Final = 2
_K_OTHER: Final = 3  # a known type we do not look at
_K_SOA: Final = 4
_K_IN: Final = 10
_K_CLASS: Final = 11  # another class

_META_TYPES = {"ANY", "AXFR", "IXFR", "MAILA", "MAILB", "OPT", "TSIG", "TKEY", "NONE", "TYPE0"}


def _vocabulary() -> dict[str, int]:
    vocab: dict[str, int] = {}
    for member in dns.rdatatype.RdataType:
        text = dns.rdatatype.to_text(member)
        if text not in _META_TYPES:
            vocab[text] = _K_OTHER
    vocab["NS"] = _K_NS
    vocab["DS"] = _K_DS
    vocab["SOA"] = _K_SOA
    for cls in ("CH", "CHAOS", "HS", "HESIOD", "CS"):
        vocab[cls] = _K_CLASS
    vocab["IN"] = _K_IN
    return vocab


_VOCAB: Final = _vocabulary()
# the fast path looks tokens up as bytes, in upper and lower case, without calling .upper()
_VOCAB_B: Final = {
    **{k.lower().encode(): v for k, v in _VOCAB.items()},
    **{k.encode(): v for k, v in _VOCAB.items()},
}
_GENERIC_TYPE = re.compile(r"TYPE(\d{1,5})")
_GENERIC_CLASS = re.compile(r"CLASS(\d{1,5})")
_TTL_RE = re.compile(r"(?:\d+[SMHDW])*\d*")
_TTL_UNITS: Final = {"S": 1, "M": 60, "H": 3600, "D": 86400, "W": 604800}
_TTL_PART = re.compile(r"(\d+)([SMHDW]?)")


def parse_ttl(text: str) -> int | None:
    """A TTL in seconds (``3600``, ``1h30m``, ``1W2D``), or None when invalid or over 2^31-1."""
    upper = text.upper()
    if not upper or not upper[0].isdigit() or not upper.isascii():
        return None
    if _TTL_RE.fullmatch(upper) is None:
        return None
    total = sum(int(n) * _TTL_UNITS.get(u, 1) for n, u in _TTL_PART.findall(upper))
    return total if total <= MAX_TTL else None


def _field_kind(token: str) -> int | None:
    upper = token.upper()
    kind = _VOCAB.get(upper)
    if kind is not None:
        return kind
    m = _GENERIC_TYPE.fullmatch(upper)
    if m is not None and int(m.group(1)) <= 65535:
        code = int(m.group(1))
        if code == 2:
            return _K_NS
        if code == 43:
            return _K_DS
        if code == 6:
            return _K_SOA
        return _K_OTHER
    m = _GENERIC_CLASS.fullmatch(upper)
    if m is not None and int(m.group(1)) <= 65535:
        return _K_IN if int(m.group(1)) == 1 else _K_CLASS
    return None


_NAME_REASON: Final = {
    "label-too-long": Reason.LABEL_TOO_LONG,
    "name-too-long": Reason.NAME_TOO_LONG,
    "bad-idn": Reason.BAD_IDN,
    "no-origin": Reason.NO_ORIGIN,
}


def _name_reason(bad: BadName) -> Reason:
    return _NAME_REASON.get(bad.problem.value, Reason.BAD_NAME)


# --- careful tokenizer --------------------------------------------------------------------------


def tokenize(text: str, depth: int, tokens: list[str]) -> tuple[int, Reason | None]:
    """Split one physical line into ``tokens`` (appended), RFC 1035 section 5.1 rules.

    ``depth`` is the parenthesis depth carried from the previous line; the new depth is returned
    with an error reason, if any. Quoted strings are kept with their quotes; escapes are kept as
    written (names are unescaped by :mod:`producer.names`).
    """
    i = 0
    n = len(text)
    cur: list[str] = []
    while i < n:
        c = text[i]
        if c == "\\":
            cur.append(text[i : i + 2])
            i += 2
            continue
        if c == '"':
            end = i + 1
            while end < n and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            if end >= n:
                return depth, Reason.UNTERMINATED_QUOTE
            cur.append(text[i : end + 1])
            i = end + 1
            continue
        if c in " \t\r\n\f\v" or c in "();":
            if cur:
                tokens.append("".join(cur))
                cur = []
            if c == ";":
                break
            if c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
                if depth < 0:
                    return 0, Reason.UNBALANCED_PARENS
            i += 1
            continue
        cur.append(c)
        i += 1
    if cur:
        tokens.append("".join(cur))
    return depth, None


# --- the parser ---------------------------------------------------------------------------------


def zone_from_filename(path: str | os.PathLike[str]) -> str | None:
    """``com.zone`` / ``com.txt.gz`` / ``co.uk.zone`` -> the origin it names, or None."""
    base = Path(path).name.lower()
    for suffix in (".gz", ".gzip"):
        base = base.removesuffix(suffix)
    for suffix in (".zone", ".txt", ".db", ".zonefile"):
        base = base.removesuffix(suffix)
    if not base or base.startswith("."):
        return None
    result = normalise_origin(base)
    return None if isinstance(result, BadName) else result


@dataclass(frozen=True, slots=True)
class ParserOptions:
    origin: str | None = None  # the zone's origin; see the module doc for the default
    lru_window: int = 0  # merge re-appearing owners within the last K owners (0: off)
    emit_ds_only: bool = False
    max_examples: int = 20


class ZoneParser:
    """One parse of one zone. Pure: feed it lines (bytes), iterate the delegations.

    ``name_hint`` is the file name, used for the zone only when nothing better is known.
    """

    def __init__(self, options: ParserOptions | None = None, name_hint: str | None = None) -> None:
        self.options = options or ParserOptions()
        self._c = _Counters()
        self._origin: str | None = None
        self._zone: str | None = None
        self._fixed_zone: str | None = None
        self._hint = name_hint
        self._names: dict[bytes, str | BadName] = {}
        self._last_class_in = True
        if self.options.origin is not None:
            origin = normalise_origin(self.options.origin)
            if isinstance(origin, BadName):
                raise ValueError(f"bad origin {self.options.origin!r}: {origin.problem}")
            self._origin = origin
            self._fixed_zone = origin

    # -- stats --

    def stats(self) -> ParseStats:
        c = self._c
        return ParseStats(
            zone=self._zone,
            lines=c.lines,
            records=c.records,
            delegations=c.delegations,
            bytes_read=c.bytes_read,
            apex_records=c.apex_records,
            ds_without_ns=c.ds_without_ns,
            other_class=c.other_class,
            malformed=c.malformed,
            malformed_by_reason=dict(c.by_reason),
            examples=tuple(c.examples),
        )

    def _bad(self, line: int, reason: Reason, text: str | bytes) -> None:
        c = self._c
        c.malformed += 1
        c.by_reason[reason] = c.by_reason.get(reason, 0) + 1
        if len(c.examples) < self.options.max_examples:
            if isinstance(text, bytes):
                text = text.decode("utf-8", "replace")
            c.examples.append(MalformedLine(line, reason, text.rstrip("\r\n")[:_EXAMPLE_TEXT]))

    # -- names --

    def _set_zone(self, soa_owner: str | None) -> str:
        if self._fixed_zone is not None:
            zone = self._fixed_zone
        elif self._origin is not None:
            zone = self._origin
        elif soa_owner is not None:
            zone = soa_owner
        else:
            hint = zone_from_filename(self._hint) if self._hint else None
            zone = hint or "."
        self._zone = zone
        self._c.zone = zone
        if self._origin is None:
            self._origin = zone
            self._names.clear()
        return zone

    def _name(self, token: str, line: int, text: str | bytes) -> str | None:
        result = absolute_name(token, self._origin)
        if isinstance(result, BadName):
            self._bad(line, _name_reason(result), text)
            return None
        return result

    # -- careful path: one logical record as tokens --

    def _directive(self, tokens: list[str], line: int, text: str) -> None:
        word = tokens[0].upper()
        if word == "$ORIGIN":
            if len(tokens) != 2:
                self._bad(line, Reason.BAD_DIRECTIVE, text)
                return
            arg = tokens[1]
            result = (
                absolute_name(arg, self._origin)
                if not arg.endswith(".")
                else absolute_name(arg, None)
            )
            if isinstance(result, BadName):
                self._bad(line, _name_reason(result), text)
                return
            self._origin = result
            self._names.clear()
        elif word == "$TTL":
            if len(tokens) != 2 or parse_ttl(tokens[1]) is None:
                self._bad(line, Reason.BAD_TTL if len(tokens) == 2 else Reason.BAD_DIRECTIVE, text)
        elif word == "$INCLUDE":
            self._bad(line, Reason.INCLUDE_REFUSED, text)
        else:
            self._bad(line, Reason.BAD_DIRECTIVE, text)

    def _careful(
        self, tokens: list[str], has_owner: bool, owner: str | None, line: int, text: str
    ) -> tuple[str | None, tuple[int, str, str | None] | None]:
        """Classify one logical record. Returns (owner for the following lines, record or None).

        The record is (kind, owner name, NS target); only NS and DS records are returned.
        """
        if has_owner and tokens[0].startswith("$"):
            self._directive(tokens, line, text)
            return owner, None
        i = 0
        if has_owner:
            owner = tokens[0]
            i = 1
        elif owner is None:
            self._bad(line, Reason.GARBAGE, text)  # a continuation line with nothing to continue
            return owner, None
        kind: int | None = None
        seen_ttl = seen_class = False
        is_in = self._last_class_in
        while i < len(tokens):
            tok = tokens[i]
            i += 1
            if tok[:1].isdigit():
                if seen_ttl or parse_ttl(tok) is None:
                    self._bad(line, Reason.BAD_TTL, text)
                    return owner, None
                seen_ttl = True
                continue
            k = _field_kind(tok)
            if k is None:
                bad = Reason.GARBAGE if tok.startswith('"') else Reason.UNKNOWN_TYPE
                self._bad(line, bad, text)
                return owner, None
            if k >= _K_IN:
                if seen_class:
                    self._bad(line, Reason.GARBAGE, text)
                    return owner, None
                seen_class = True
                is_in = k == _K_IN
                self._last_class_in = is_in
                continue
            kind = k
            break
        if kind is None:
            self._bad(line, Reason.GARBAGE, text)
            return owner, None
        self._c.records += 1
        if not is_in:
            self._c.other_class += 1
            return owner, None
        rdata = tokens[i:]
        if self._zone is None:
            soa_owner = None
            if kind == _K_SOA and owner.endswith(".") and self._origin is None:
                found = absolute_name(owner, None)
                soa_owner = found if isinstance(found, str) else None
            self._set_zone(soa_owner)
        if kind == _K_NS:
            if len(rdata) != 1 or rdata[0].startswith('"'):
                self._bad(line, Reason.BAD_RDATA, text)
                return owner, None
            name = self._name(owner, line, text)
            target = self._name(rdata[0], line, text) if name is not None else None
            if name is None or target is None:
                return owner, None
            return owner, (kind, name, target)
        if kind == _K_DS:
            if len(rdata) < 4 or not all(t.isdigit() and t.isascii() for t in rdata[:3]):
                self._bad(line, Reason.BAD_RDATA, text)
                return owner, None
            name = self._name(owner, line, text)
            if name is None:
                return owner, None
            return owner, (kind, name, None)
        return owner, None

    # -- the loop --

    def parse(
        self, lines: Iterable[bytes], byte_count: Callable[[], int] | None = None
    ) -> Iterator[Delegation]:
        """Yield the delegations of the zone whose lines (with or without ``\\n``) are given.

        ``byte_count`` tells how many bytes the source has read (see :func:`open_lines`); without
        it, the lengths of the lines are added up.
        """
        if byte_count is None:
            box = [0]
            lines = _counting(lines, box)
            byte_count = lambda: box[0]  # noqa: E731
        c = self._c
        opts = self.options
        vocab = _VOCAB_B
        blanks = _BLANKS
        names = self._names
        window: OrderedDict[str, tuple[set[str], bool, int]] | None = (
            OrderedDict() if opts.lru_window > 0 else None
        )
        window_max = opts.lru_window
        emit_ds_only = opts.emit_ds_only

        lineno = 0
        records = 0
        owner_b: bytes | None = None  # the owner token in force, raw (UTF-8)
        resolved_b: bytes | None = None  # the owner token last resolved, and its name
        resolved: str | BadName | None = None
        zone = self._zone
        origin = self._origin
        last_in = True  # the class in force is IN
        # the group being built
        cur: str | None = None
        cur_ns: list[str] = []
        cur_ds = False
        cur_line = 0

        dot_zone = "." + zone if zone is not None else ""
        dot_origin_b = b"." + origin.encode() if origin is not None else b""
        origin_dots = dot_origin_b.count(b".")
        max_owner = 254 if origin is None else 254 - len(dot_origin_b)

        def own(ob: bytes) -> str | BadName:
            """The name of an owner token: plain one-label names inline, the rest by names.py."""
            if origin is not None and len(ob) <= max_owner and ob[0] != 64:  # "@"
                dots = ob.count(46)
                if dots == 0 and len(ob) <= 63:
                    name = (ob + dot_origin_b).lower().decode()
                    if name.isprintable():
                        return name
                elif (
                    dots == origin_dots + 1
                    and ob.endswith(dot_origin_b)
                    and 0 < len(ob) - len(dot_origin_b) <= 63
                ):
                    name = ob.lower().decode()
                    if name.isprintable():
                        return name
            return absolute_name(ob.decode(), origin)

        def finish(
            name: str, ns: list[str] | set[str], has_ds: bool, line: int
        ) -> Delegation | None:
            servers: tuple[str, ...]
            if len(ns) == 2 and isinstance(ns, list):
                a, b = ns
                servers = (a, b) if a < b else (b, a) if a != b else (a,)
            else:
                servers = tuple(sorted(set(ns)))
            if not servers:
                c.ds_without_ns += 1
                if not emit_ds_only:
                    return None
            c.delegations += 1
            return Delegation(name, self._zone or ".", servers, has_ds, line)

        def careful(
            toks: list[str], has_owner: bool, line: int, text: str
        ) -> tuple[int, str, str | None] | None:
            nonlocal owner_b, resolved_b, records, origin, zone, last_in
            nonlocal dot_zone, dot_origin_b, origin_dots, max_owner
            prev = (
                None if has_owner or owner_b is None else owner_b.decode("utf-8", "surrogateescape")
            )
            c.records = records
            self._last_class_in = last_in
            owner, rec = self._careful(toks, has_owner, prev, line, text)
            records = c.records
            last_in = self._last_class_in
            owner_b = owner.encode("utf-8", "surrogateescape") if owner is not None else None
            resolved_b = None
            if origin != self._origin or zone != self._zone:
                origin = self._origin
                zone = self._zone
                dot_zone = "." + zone if zone is not None else ""
                dot_origin_b = (b"." + origin.encode()) if origin not in (None, ".") else b""
                origin_dots = dot_origin_b.count(b".")
                max_owner = 254 - len(dot_origin_b)
            return rec

        source: Iterator[bytes] = iter(lines)
        while True:
            replay: list[bytes] | None = None
            for raw in source:
                lineno += 1
                if (
                    zone is not None
                    and 40 not in raw  # int needles: much faster than b"(" on bytes
                    and 41 not in raw
                    and 34 not in raw
                    and 92 not in raw
                    and raw.isascii()
                ):
                    # ---- fast path: the common case, anything odd goes to careful() ----
                    parts = raw.split() if 59 not in raw else raw[: raw.find(b";")].split()
                    if not parts:
                        continue
                    kind = 0
                    if raw[0] in blanks:
                        i = 0
                        if owner_b is None:
                            kind = -1
                    else:
                        owner_b = parts[0]
                        i = 1
                        if owner_b[0] == 36:  # "$": a directive
                            kind = -1
                    n = len(parts)
                    name: str | None = None
                    target: str | None = None
                    rec_line = lineno
                    if kind == 0:
                        seen_ttl = False
                        while i < n:
                            tok = parts[i]
                            i += 1
                            k = vocab.get(tok)
                            if k is None:
                                if not seen_ttl and tok.isdigit() and len(tok) < 10:
                                    seen_ttl = True
                                    continue
                                kind = -1  # TTL units, mixed case, unknown, garbage
                                break
                            if k == 10:  # IN
                                last_in = True
                                continue
                            if k == 11:  # another class
                                kind = -1
                                break
                            kind = k
                            break
                        else:
                            kind = -1
                    if not last_in:
                        kind = -1
                    if kind == 1:  # NS
                        if n - i == 1 and owner_b is not None:
                            if owner_b != resolved_b:
                                resolved_b = owner_b
                                resolved = own(owner_b)
                            tb = parts[i]
                            target_r = names.get(tb)
                            if target_r is None:
                                if len(names) >= _NAME_CACHE_MAX:
                                    names.clear()
                                target_r = absolute_name(tb.decode(), origin)
                                names[tb] = target_r
                            if isinstance(resolved, str) and isinstance(target_r, str):
                                records += 1
                                name = resolved
                                target = target_r
                    elif kind == 2:  # DS
                        if (
                            n - i >= 4
                            and owner_b is not None
                            and parts[i].isdigit()
                            and parts[i + 1].isdigit()
                            and parts[i + 2].isdigit()
                        ):
                            if owner_b != resolved_b:
                                resolved_b = owner_b
                                resolved = own(owner_b)
                            if isinstance(resolved, str):
                                records += 1
                                name = resolved
                    elif kind > 0:
                        records += 1
                        continue
                    if name is None:
                        text = raw.decode("ascii")
                        toks: list[str] = []
                        tokenize(text, 0, toks)
                        if not toks:
                            continue
                        rec = careful(toks, raw[0] not in b" \t", lineno, text)
                        if rec is None:
                            continue
                        kind, name, target = rec
                else:
                    # ---- careful path ----
                    name = target = None
                    rec_line = lineno
                    try:
                        text = raw.decode("utf-8")
                    except UnicodeDecodeError:
                        self._bad(lineno, Reason.BAD_ENCODING, raw)
                        continue
                    toks = []
                    depth, err = tokenize(text, 0, toks)
                    buffered: list[bytes] = []
                    size = len(raw)
                    while depth > 0 and err is None:
                        if len(buffered) >= MAX_PAREN_LINES or size > MAX_PAREN_BYTES:
                            err = Reason.UNBALANCED_PARENS
                            break
                        more = next(source, None)
                        if more is None:
                            err = Reason.UNBALANCED_PARENS
                            break
                        buffered.append(more)
                        size += len(more)
                        try:
                            more_text = more.decode("utf-8")
                        except UnicodeDecodeError:
                            err = Reason.BAD_ENCODING
                            break
                        depth, err = tokenize(more_text, depth, toks)
                    if err is not None:
                        self._bad(rec_line, err, text)
                        if err == Reason.UNBALANCED_PARENS and buffered:
                            replay = buffered  # the opening line is dropped, the rest re-read
                            break
                        lineno += len(buffered)
                        continue
                    lineno += len(buffered)
                    if not toks:
                        continue
                    rec = careful(toks, text[:1] not in (" ", "\t"), rec_line, text)
                    if rec is None:
                        continue
                    kind, name, target = rec

                # ---- one NS or DS record of `name` ----
                if name != cur:
                    if cur is not None:
                        if window is None:
                            d = finish(cur, cur_ns, cur_ds, cur_line)
                            if d is not None:
                                yield d
                        else:
                            for g in _window_add(window, window_max, cur, cur_ns, cur_ds, cur_line):
                                out = finish(*g)
                                if out is not None:
                                    yield out
                    cur = None
                    cur_ns = []
                    cur_ds = False
                    if name == zone:
                        c.apex_records += 1
                        continue
                    if zone is None or (
                        not (name.endswith(dot_zone) and "\\" not in name)
                        and not is_subdomain(name, zone)
                    ):
                        self._bad(rec_line, Reason.OUT_OF_ZONE, raw)
                        continue
                    cur = name
                    cur_line = rec_line
                if target is not None:
                    cur_ns.append(target)
                else:
                    cur_ds = True
            else:
                break
            # an unclosed parenthesis: parse the lines it swallowed again, on their own
            source = _chain(replay or [], source)

        c.lines = lineno
        c.bytes_read = byte_count()
        c.records = records
        if cur is not None:
            if window is None:
                d = finish(cur, cur_ns, cur_ds, cur_line)
                if d is not None:
                    yield d
            else:
                for g in _window_add(window, window_max, cur, cur_ns, cur_ds, cur_line):
                    out = finish(*g)
                    if out is not None:
                        yield out
        if window is not None:
            while window:
                old, (ons, ods, oline) = window.popitem(last=False)
                out = finish(old, ons, ods, oline)
                if out is not None:
                    yield out


_Group = tuple[str, set[str], bool, int]


def _window_add(
    window: OrderedDict[str, tuple[set[str], bool, int]],
    size: int,
    name: str,
    ns: list[str],
    has_ds: bool,
    line: int,
) -> list[_Group]:
    """Merge a finished group into the LRU window; return the groups it pushes out."""
    prev = window.get(name)
    if prev is None:
        window[name] = (set(ns), has_ds, line)
    else:
        prev[0].update(ns)
        window[name] = (prev[0], prev[1] or has_ds, prev[2])
        window.move_to_end(name)
    out: list[_Group] = []
    while len(window) > size:
        old, (ons, ods, oline) = window.popitem(last=False)
        out.append((old, ons, ods, oline))
    return out


def _counting(lines: Iterable[bytes], box: list[int]) -> Iterator[bytes]:
    for line in lines:
        box[0] += len(line)
        yield line


def _chain(first: list[bytes], rest: Iterator[bytes]) -> Iterator[bytes]:
    yield from first
    yield from rest


# --- I/O: files and streams ---------------------------------------------------------------------

Source = str | os.PathLike[str] | IO[bytes] | IO[str]


def _is_gzip(f: IO[bytes]) -> bool:
    if isinstance(f, io.BufferedReader):
        return f.peek(2)[:2] == b"\x1f\x8b"
    return False


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class BlockLines:
    """The lines of a binary stream, read in 1 MiB blocks and split in C; counts bytes read.

    Iterating yields lists of lines (without their ``\\n``); ``lines()`` flattens them.
    """

    def __init__(self, stream: Readable, block_size: int = 1 << 20) -> None:
        self.stream = stream
        self.block_size = block_size
        self.nbytes = 0

    def __iter__(self) -> Iterator[list[bytes]]:
        read = self.stream.read
        size = self.block_size
        carry = b""
        while True:
            block = read(size)
            if not block:
                break
            self.nbytes += len(block)
            lines = (carry + block).split(b"\n") if carry else block.split(b"\n")
            carry = lines.pop()
            yield lines
        if carry:
            yield [carry]

    def lines(self) -> Iterator[bytes]:
        return chain.from_iterable(self)

    def count(self) -> int:
        return self.nbytes


def open_lines(source: Source) -> tuple[Iterator[bytes], Callable[[], int] | None, str | None]:
    """Lines of a path (plain or gzip, told by its magic bytes) or of an open stream.

    Returns the lines (a generator that closes what it opened), a byte counter (decompressed
    bytes; None for text streams) and the file name (for the zone hint). A text stream is
    re-encoded as UTF-8.
    """
    if isinstance(source, str | os.PathLike):
        path = os.fspath(source)
        box: list[BlockLines] = []
        return _file_lines(path, box), lambda: box[0].nbytes if box else 0, path
    if isinstance(source, io.TextIOBase):
        return (line.encode("utf-8", "surrogateescape") for line in source), None, None
    hint = getattr(source, "name", None)
    name = hint if isinstance(hint, str) else None
    stream: Readable = source  # type: ignore[assignment]
    if isinstance(source, io.BufferedReader) and _is_gzip(source):
        stream = gzip.GzipFile(fileobj=source, mode="rb")
    blocks = BlockLines(stream)
    return blocks.lines(), blocks.count, name


def _file_lines(path: str, box: list[BlockLines]) -> Iterator[bytes]:
    with open(path, "rb") as f:
        if _is_gzip(f):
            with gzip.GzipFile(fileobj=f, mode="rb") as gz:
                box.append(BlockLines(gz))
                yield from box[0].lines()
        else:
            box.append(BlockLines(f))
            yield from box[0].lines()


def read_zone(
    source: Source, options: ParserOptions | None = None
) -> tuple[ZoneParser, Iterator[Delegation]]:
    """Open a zone and return its parser (for ``stats()``) and the delegations, lazily.

    The file is opened on first iteration and closed when the iterator ends or is closed.
    """
    lines, count, hint = open_lines(source)
    parser = ZoneParser(options, name_hint=hint)
    return parser, parser.parse(lines, count)
