"""Zone-file and domain-list name tokens for the producer: presentation text in, canonical name out.

The canonical form is :mod:`workers.names`' (lower case, A-labels by IDNA 2008 with UTS #46, a
label IDNA 2008 refuses kept as raw octets), absolute here (trailing dot), with RFC 1035
presentation escapes only where a label holds a byte that cannot be written plainly (``\\.``
``\\\\`` ``\\"`` ``\\(`` ``\\)`` ``\\;`` ``\\@`` ``\\$`` and ``\\DDD`` for bytes outside printable
ASCII). The root is ``"."``. This module adds what only master files have: escapes, origins,
``@``, and errors as data.

Errors are data: every function returns either the name or a :class:`BadName` carrying the
offending text and a :class:`NameProblem`; nothing here raises on bad input.

Unicode labels are converted by :func:`workers.names.canonical_label`, so a name comes out of the
producer exactly as the DNS stage writes it (``faß.de`` is ``xn--fa-hia.de`` at both).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from workers.names import absolute, canonical, is_absolute, render_label

MAX_LABEL = 63
MAX_NAME = 255  # wire length, including the length octets and the root label

# Characters that may not appear unescaped in a name token of a master file.
_FORBIDDEN_PLAIN = frozenset('"();')


class NameProblem(StrEnum):
    """Why a name was refused."""

    EMPTY = "empty"  # empty token, or an empty label (``a..b``, leading dot)
    LABEL_TOO_LONG = "label-too-long"  # a label over 63 octets
    NAME_TOO_LONG = "name-too-long"  # over 255 octets in wire form
    BAD_ESCAPE = "bad-escape"  # ``\\`` at the end, or ``\\DDD`` over 255 / not three digits
    BAD_CHAR = "bad-char"  # an unescaped character that is not allowed in a name token
    BAD_IDN = "bad-idn"  # a non-ASCII label mixed with escapes (``\\046♥.example``)
    NO_ORIGIN = "no-origin"  # a relative name (or ``@``) with no origin to complete it


@dataclass(frozen=True, slots=True)
class BadName:
    """A name that could not be normalised, with the text as given."""

    text: str
    problem: NameProblem


def _check_plain(name: str, text: str) -> str | BadName:
    """Check label and name lengths of an absolute, escape-free, lowercase ASCII name."""
    if name == ".":
        return name
    if len(name) + 1 > MAX_NAME:
        return BadName(text, NameProblem.NAME_TOO_LONG)
    if len(name) <= MAX_LABEL + 1:  # no label can be too long: only look for empty labels
        if name[0] == "." or ".." in name:
            return BadName(text, NameProblem.EMPTY)
        return name
    labels = name[:-1].split(".")
    for label in labels:
        if not label:
            return BadName(text, NameProblem.EMPTY)
        if len(label) > MAX_LABEL:
            return BadName(text, NameProblem.LABEL_TOO_LONG)
    return name


def _unescape_labels(text: str) -> list[bytes] | BadName:
    """Split an escaped presentation name into raw label bytes (the trailing empty label kept)."""
    labels: list[bytes] = []
    cur = bytearray()
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            if i + 1 >= n:
                return BadName(text, NameProblem.BAD_ESCAPE)
            d = text[i + 1]
            if d.isdigit():
                digits = text[i + 1 : i + 4]
                if len(digits) != 3 or not digits.isdigit() or not digits.isascii():
                    return BadName(text, NameProblem.BAD_ESCAPE)
                value = int(digits)
                if value > 255:
                    return BadName(text, NameProblem.BAD_ESCAPE)
                cur.append(value)
                i += 4
                continue
            if not d.isascii():
                cur.extend(d.encode("utf-8"))
            else:
                cur.append(ord(d))
            i += 2
            continue
        if c == ".":
            labels.append(bytes(cur))
            cur = bytearray()
        elif not c.isascii():
            return BadName(text, NameProblem.BAD_IDN)  # escapes and Unicode are not mixed
        else:
            cur.append(ord(c))
        i += 1
    labels.append(bytes(cur))
    return labels


def _escaped_name(text: str, origin: str | None) -> str | BadName:
    split = _unescape_labels(text)
    if isinstance(split, BadName):
        return split
    absolute = split[-1] == b"" and len(split) > 1
    labels = split[:-1] if absolute else split
    for label in labels:
        if not label:
            return BadName(text, NameProblem.EMPTY)
        if len(label) > MAX_LABEL:
            return BadName(text, NameProblem.LABEL_TOO_LONG)
    rendered = ".".join(render_label(label.lower()) for label in labels) + "."
    wire = sum(len(label) + 1 for label in labels) + 1
    if not absolute:
        if origin is None:
            return BadName(text, NameProblem.NO_ORIGIN)
        if origin != ".":
            rendered += origin
            wire += wire_length(origin) - 1  # the root octet is already counted
    if wire > MAX_NAME:
        return BadName(text, NameProblem.NAME_TOO_LONG)
    return rendered


def absolute_name(text: str, origin: str | None) -> str | BadName:
    """Normalise one name token of a master file.

    ``origin`` must itself be normalised (see :func:`normalise_origin`) or ``None``; relative names
    and ``@`` are completed with it. Returns the canonical name or a :class:`BadName`.
    """
    if not text:
        return BadName(text, NameProblem.EMPTY)
    if text == "@":
        if origin is None:
            return BadName(text, NameProblem.NO_ORIGIN)
        return origin
    if "\\" in text:
        return _escaped_name(text, origin)
    if not _FORBIDDEN_PLAIN.isdisjoint(text):
        return BadName(text, NameProblem.BAD_CHAR)
    name = canonical(text)
    if "\\" in name:  # a label IDNA 2008 refuses, kept as raw octets
        result = _escaped_name(name, origin)
        return BadName(text, result.problem) if isinstance(result, BadName) else result
    if not name.isprintable():
        return BadName(text, NameProblem.BAD_CHAR)
    if name == ".":
        return name
    if not is_absolute(name):
        if origin is None:
            return BadName(text, NameProblem.NO_ORIGIN)
        name = name + "." + origin if origin != "." else absolute(name)
    result = _check_plain(name, text)
    if isinstance(result, BadName):
        return BadName(text, result.problem)
    return result


def normalise_origin(text: str) -> str | BadName:
    """Normalise an origin (``$ORIGIN`` argument, or a name given by the user): must be absolute.

    A missing trailing dot is added, since a user typing ``com`` means ``com.``.
    """
    return absolute_name(absolute(text) if text else text, None)


def _labels(name: str) -> list[bytes]:
    split = _unescape_labels(name)
    if isinstance(split, BadName):  # not canonical: compare as text
        return [label.encode("utf-8", "surrogateescape") for label in name.split(".")]
    return split


def wire_length(name: str) -> int:
    """Length of a canonical absolute name in wire form."""
    if name == ".":
        return 1
    if "\\" not in name:
        return len(name) + 1
    return sum(len(label) + 1 for label in _labels(name)[:-1]) + 1


def label_count(name: str) -> int:
    """Number of labels of a canonical absolute name, the root not counted."""
    if name == ".":
        return 0
    if "\\" not in name:
        return name.count(".")
    return len(_labels(name)) - 1


def is_subdomain(name: str, zone: str) -> bool:
    """True when ``name`` is ``zone`` or below it (both canonical)."""
    if zone == ".":
        return True
    if name == zone:
        return True
    if not name.endswith("." + zone):
        return False
    if "\\" not in name:
        return True
    n, z = _labels(name), _labels(zone)  # an escaped dot (``a\\.com.``) is not a separator
    return len(n) > len(z) and n[len(n) - len(z) :] == z
