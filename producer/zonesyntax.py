"""Master-file syntax shared by both paths: record-type vocabulary, TTLs, the careful tokenizer."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Final

import dns.rdatatype

from producer.names import BadName, normalise_origin
from producer.zonetypes import Reason

MAX_TTL: Final = 2**31 - 1

# --- field vocabulary -------------------------------------------------------------------------

K_NS: Final = 1
K_DS: Final = 2
K_OTHER: Final = 3  # a known type we do not look at
K_SOA: Final = 4
K_IN: Final = 10
K_CLASS: Final = 11  # another class

_META_TYPES = {"ANY", "AXFR", "IXFR", "MAILA", "MAILB", "OPT", "TSIG", "TKEY", "NONE", "TYPE0"}


def _vocabulary() -> dict[str, int]:
    vocab: dict[str, int] = {}
    for member in dns.rdatatype.RdataType:
        text = dns.rdatatype.to_text(member)
        if text not in _META_TYPES:
            vocab[text] = K_OTHER
    vocab["NS"] = K_NS
    vocab["DS"] = K_DS
    vocab["SOA"] = K_SOA
    for cls in ("CH", "CHAOS", "HS", "HESIOD", "CS"):
        vocab[cls] = K_CLASS
    vocab["IN"] = K_IN
    return vocab


VOCAB: Final = _vocabulary()
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


def field_kind(token: str) -> int | None:
    upper = token.upper()
    kind = VOCAB.get(upper)
    if kind is not None:
        return kind
    m = _GENERIC_TYPE.fullmatch(upper)
    if m is not None and int(m.group(1)) <= 65535:
        code = int(m.group(1))
        if code == 2:
            return K_NS
        if code == 43:
            return K_DS
        if code == 6:
            return K_SOA
        return K_OTHER
    m = _GENERIC_CLASS.fullmatch(upper)
    if m is not None and int(m.group(1)) <= 65535:
        return K_IN if int(m.group(1)) == 1 else K_CLASS
    return None


NAME_REASON: Final = {
    "label-too-long": Reason.LABEL_TOO_LONG,
    "name-too-long": Reason.NAME_TOO_LONG,
    "bad-idn": Reason.BAD_IDN,
    "no-origin": Reason.NO_ORIGIN,
}


def name_reason(bad: BadName) -> Reason:
    return NAME_REASON.get(bad.problem.value, Reason.BAD_NAME)


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
