"""The zone parser's public data types: what it yields, its options, its statistics."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, NamedTuple

MAX_NS_LIMIT: Final = 1024  # each new NS target is compared with the kept ones


class Delegation(NamedTuple):
    """A delegated name found in a zone (or a plain domain list, with ``ns=()``).

    Immutable and hashable. A named tuple rather than a frozen dataclass because a zone yields
    hundreds of millions of them and a frozen dataclass costs four times as much to build.
    """

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
    text: str  # the line, printable (producer.printable: control characters escaped), <= 120


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
    ns_cut: int = 0  # NS records left out of a delegation that had max_ns name servers already


@dataclass(frozen=True, slots=True)
class ParserOptions:
    origin: str | None = None  # the zone's origin; see the module doc for the default
    lru_window: int = 0  # merge re-appearing owners within the last K owners (0: off)
    emit_ds_only: bool = False
    max_examples: int = 20
    strict: bool = False  # every line through the careful tokenizer (slow; same results)
    max_ns: int = 64  # name servers kept per delegation: the first distinct ones (see zonefile)

    def __post_init__(self) -> None:
        if not 1 <= self.max_ns <= MAX_NS_LIMIT:
            raise ValueError(f"max_ns must be 1 to {MAX_NS_LIMIT}, not {self.max_ns}")


@dataclass
class Counters:
    zone: str | None = None
    lines: int = 0
    records: int = 0
    delegations: int = 0
    bytes_read: int = 0
    apex_records: int = 0
    ds_without_ns: int = 0
    other_class: int = 0
    malformed: int = 0
    ns_cut: int = 0
    by_reason: dict[Reason, int] = field(default_factory=dict)
    examples: list[MalformedLine] = field(default_factory=list)
