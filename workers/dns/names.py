"""Turning input text into DNS names: A-labels, length limits, clear errors. Pure."""

from __future__ import annotations

import re

import dns.name
import idna

MAX_LABEL = 63
MAX_NAME_WIRE = 255


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

    Unicode labels are converted with IDNA 2008 (UTS 46 mapping). Labels longer than 63 octets,
    names longer than 255 octets on the wire, empty labels and characters outside letters, digits,
    hyphen and underscore are refused.
    """
    raw = text.strip()
    if not raw or raw == ".":
        raise BadName(text, "empty name")
    if raw.endswith("."):
        raw = raw[:-1]
    labels = raw.split(".")
    out: list[str] = []
    for label in labels:
        if not label:
            raise BadName(text, "empty label")
        if not label.isascii():
            try:
                label = idna.encode(label, uts46=True).decode("ascii")
            except idna.IDNAError as exc:
                raise BadName(text, f"not a valid IDN label: {exc}") from exc
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
        return text if text.endswith(".") else text + "."
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
