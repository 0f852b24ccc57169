"""Domain names: the one canonical form, shared by the producer and every worker stage.

The canonical form of a name is:

* lower case, labels separated by ``"."``; absolute text ends with ``"."`` (:func:`absolute`),
  stored and compared text has no trailing dot (:func:`relative`);
* internationalized labels as A-labels by IDNA 2008 (RFC 5890, 5891) after the UTS #46
  non-transitional mapping, which is what current browsers and mail software do: ``faß.de`` is
  ``xn--fa-hia.de`` (IDNA 2003, Python's ``"idna"`` codec, made it ``fass.de``, another domain);
  ``Bücher.example`` is ``xn--bcher-kva.example``;
* ASCII labels are never passed through IDNA: letters, digits, hyphen, underscore (``_25._tcp``),
  and even ``xn--`` labels that are not valid Punycode stay as they are, lower-cased;
* a non-ASCII label that IDNA 2008 refuses (a symbol, ``i♥.example``) is still a valid DNS label:
  it is kept as its raw UTF-8 octets, lower-cased, written with RFC 1035 ``\\DDD`` escapes. Its
  domain is never dropped: the producer passes it on, and the DNS stage records it with the reason
  it does not query it (:func:`normalize_text` accepts letters, digits, ``-``, ``_`` and ``*``).

:func:`canonical_label` never raises. :func:`normalize_name` / :func:`normalize_text` add the
checks of the DNS stage (lengths, characters) and raise :class:`BadName`. Pure.
"""

from __future__ import annotations

import re

import dns.name
import idna

MAX_LABEL = 63
MAX_NAME_WIRE = 255
_SPECIAL = frozenset('."\\();@$')  # escaped in presentation form
_FULL_STOPS = str.maketrans("\u3002\uff0e\uff61", "...")  # label separators to UTS #46 as to browsers


def canonical_label(label: str) -> str:
    """One label (no dots, no escapes) in canonical form; never raises. See the module text."""
    if label.isascii():
        return label.lower()
    try:
        alabel = idna.encode(label, uts46=True, transitional=False).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        alabel = ""
    if alabel and "." not in alabel:  # UTS #46 maps some characters to a full stop
        return alabel.lower()
    try:
        octets = label.lower().encode("utf-8", "surrogateescape")  # bytes read undecoded come back
    except UnicodeEncodeError:
        octets = label.lower().encode("utf-8", "surrogatepass")
    return render_label(octets)


def render_label(label: bytes) -> str:
    """The presentation form of one raw label (RFC 1035 5.1): ``\\DDD`` for bytes outside printable
    ASCII, a backslash before the characters that mean something in a master file."""
    parts: list[str] = []
    for b in label:
        ch = chr(b)
        if b <= 0x20 or b >= 0x7F:
            parts.append(f"\\{b:03d}")
        elif ch in _SPECIAL:
            parts.append("\\" + ch)
        else:
            parts.append(ch)
    return "".join(parts)


def canonical(text: str) -> str:
    """``text`` (presentation form, no escapes in non-ASCII labels) with every label canonical;
    absolute stays absolute, relative stays relative. Never raises."""
    if text.isascii():
        return text.lower()
    return ".".join(canonical_label(label) for label in text.translate(_FULL_STOPS).split("."))


def _dot_escaped(name: str, end: int) -> bool:
    """True when the character before ``end`` is escaped (an odd run of backslashes before it)."""
    run = 0
    while end - 1 - run >= 0 and name[end - 1 - run] == "\\":
        run += 1
    return run % 2 == 1


def is_absolute(name: str) -> bool:
    """True when ``name`` ends with a label separator (``"a.example."``, ``"."``), not ``"a\\."``."""
    return name.endswith(".") and not _dot_escaped(name, len(name) - 1)


def absolute(name: str) -> str:
    """``name`` with its trailing dot (the root is ``"."``)."""
    if not name:
        return "."
    return name if is_absolute(name) else name + "."


def relative(name: str) -> str:
    """``name`` without its trailing dot, as names are stored and compared (the root is ``""``)."""
    return name[:-1] if is_absolute(name) else name


class BadName(ValueError):
    """An input that is not a usable domain name. Carries the input and why."""

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"{text!r}: {reason}")
        self.text = text
        self.reason = reason


def _allowed_char(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch in "-_*")


def normalize_name(text: str) -> dns.name.Name:
    """Absolute, lower-case, A-label form of ``text``; raises :class:`BadName`.

    Unicode labels are converted by :func:`canonical_label` (IDNA 2008, UTS 46 mapping). Labels
    longer than 63 octets, names longer than 255 octets on the wire, empty labels and characters
    outside letters, digits, hyphen and underscore are refused.
    """
    raw = text.strip()
    if not raw or raw == ".":
        raise BadName(text, "empty name")
    labels = relative(canonical(raw)).split(".")
    out: list[str] = []
    for label in labels:
        if not label:
            raise BadName(text, "empty label")
        if "\\" in label and not raw.isascii():
            raise BadName(text, "not a valid IDN label: IDNA 2008 refuses it")
        if len(label) > MAX_LABEL:
            raise BadName(text, f"label longer than {MAX_LABEL} octets")
        if not all(_allowed_char(c) for c in label):
            raise BadName(text, "characters other than letters, digits, '-' and '_'")
        out.append(label.lower())
    wire_len = sum(len(label) + 1 for label in out) + 1
    if wire_len > MAX_NAME_WIRE:
        raise BadName(text, f"name longer than {MAX_NAME_WIRE} octets")
    return dns.name.Name([*(label.encode("ascii") for label in out), b""])


_PLAIN_NAME = re.compile(r"(?:[a-z0-9_*-]{1,63}\.)*[a-z0-9_*-]{1,63}\.?")


def normalize_text(text: str) -> str:
    """:func:`normalize_name` as absolute text (``"example.com."``); raises :class:`BadName`.

    The common case (already lower-case ASCII letters, digits, '-', '_') is checked with one
    regular expression and costs no dnspython object."""
    if len(text) < 254 and _PLAIN_NAME.fullmatch(text):
        return absolute(text)
    return normalize_name(text).to_text()


def tlsa_text(host: str, port: int = 25) -> str:
    """``_<port>._tcp.<host>`` for a normalized absolute ``host``; raises :class:`BadName`."""
    out = f"_{port}._tcp.{host}"
    if len(out) > MAX_NAME_WIRE - 1:  # text of an absolute name is one shorter than its wire form
        raise BadName(host, "TLSA owner name longer than 255 octets")
    return out


def tlsa_name(host: dns.name.Name, port: int = 25) -> dns.name.Name:
    """``_<port>._tcp.<host>``; raises :class:`BadName` when the result is too long."""
    try:
        return dns.name.Name([f"_{port}".encode(), b"_tcp"]).concatenate(host)
    except dns.name.NameTooLong as exc:
        raise BadName(host.to_text(), "TLSA owner name longer than 255 octets") from exc
