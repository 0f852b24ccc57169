"""Turning input text into DNS names: A-labels, length limits, clear errors. Pure."""

from __future__ import annotations

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


def tlsa_name(host: dns.name.Name, port: int = 25) -> dns.name.Name:
    """``_<port>._tcp.<host>``; raises :class:`BadName` when the result is too long."""
    try:
        return dns.name.Name([f"_{port}".encode(), b"_tcp"]).concatenate(host)
    except dns.name.NameTooLong as exc:
        raise BadName(host.to_text(), "TLSA owner name longer than 255 octets") from exc
