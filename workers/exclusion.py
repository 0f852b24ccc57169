"""The exclusion list: address ranges and domain suffixes that a scan never queries nor connects to.

Format (ZMap's blocklist, plus names): one entry a line; ``#`` starts a comment; blank lines are
skipped. An entry is

* an IPv4 or IPv6 address or CIDR range (``192.0.2.0/24``, ``2001:db8::/32``, ``192.0.2.7``);
  a range inside ``::ffff:0:0/96`` (IPv4-mapped) excludes its IPv4 addresses too;
  host bits set below the prefix are ignored (``10.1.2.3/8`` is ``10.0.0.0/8``: the wider
  reading, never the narrower);
* a domain name, which excludes itself and every name below it: ``example.com`` excludes
  ``example.com`` and ``mx.a.example.com``, never ``badexample.com``. Names are compared in the
  project's canonical form (``workers.names``: lower case, IDNA 2008 A-labels, no trailing dot),
  so ``Bücher.example`` and ``xn--bcher-kva.example`` are the same entry.

A line that is none of these (``10.0.0``, ``300.1.1.1/8``, ``exa mple.com``, a wildcard, the root)
is an error naming ``FILE:LINE``: a list that says something the scanner cannot read must stop the
scan, never let it scan what the line meant to exclude.

Matching is pure and cheap enough for every name and address of a scan: addresses by binary
search in a sorted list of merged intervals (one per family), names by walking a name's suffixes
label by label through a set (a name of k labels costs at most k set lookups).
"""

from __future__ import annotations

import bisect
import hashlib
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from workers.names import BadName, canonical, normalize_text, relative

_ADDRESS_CHARS = frozenset("0123456789.")


class ExclusionError(ValueError):
    """A list that cannot be used: the message names ``FILE:LINE`` (or the file) and the problem."""


def _merge(ranges: Iterable[tuple[int, int]]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Sorted, merged [start, end] intervals as two parallel tuples (starts, ends)."""
    starts: list[int] = []
    ends: list[int] = []
    for lo, hi in sorted(ranges):
        if ends and lo <= ends[-1] + 1:
            ends[-1] = max(ends[-1], hi)
        else:
            starts.append(lo)
            ends.append(hi)
    return tuple(starts), tuple(ends)


def _inside(starts: tuple[int, ...], ends: tuple[int, ...], value: int) -> bool:
    i = bisect.bisect_right(starts, value) - 1
    return i >= 0 and value <= ends[i]


def suffix_key(name: str) -> str:
    """A name as the list compares it: canonical, lower case, no trailing dot. Never raises."""
    return canonical(relative(name.strip())).lower()


@dataclass(frozen=True)
class Exclusions:
    """A parsed list. ``sha256`` is the digest of the file's bytes (what ``sha256sum`` prints),
    ``entries`` the number of entries read; both go into the scan's recorded settings."""

    source: str = ""
    sha256: str = ""
    entries: int = 0
    suffixes: frozenset[str] = frozenset()
    v4: tuple[tuple[int, ...], tuple[int, ...]] = ((), ())
    v6: tuple[tuple[int, ...], tuple[int, ...]] = ((), ())
    networks: int = 0
    data: bytes = field(default=b"", repr=False, compare=False)  # the file as read (to ship it)

    @property
    def empty(self) -> bool:
        return not self.suffixes and not self.v4[0] and not self.v6[0]

    def excludes_name(self, name: str) -> bool:
        """``name`` (any form: absolute or not, U-labels or A-labels, any case) is an entry or
        lies below one."""
        if not self.suffixes:
            return False
        key = suffix_key(name)
        suffixes = self.suffixes
        while key:
            if key in suffixes:
                return True
            dot = key.find(".")
            if dot < 0:
                return False
            key = key[dot + 1:]
        return False

    def excludes_address(self, ip: str) -> bool:
        """``ip`` (text, v4 or v6; an IPv4-mapped v6 address counts as its v4 address) lies in an
        excluded range. Text that is not an address is not excluded (nothing can connect to it)."""
        if not self.v4[0] and not self.v6[0]:
            return False
        text = ip.strip().strip("[]").split("%", 1)[0]
        try:
            return _inside(*self.v4, int.from_bytes(socket.inet_pton(socket.AF_INET, text)))
        except OSError:
            pass
        try:
            value = int.from_bytes(socket.inet_pton(socket.AF_INET6, text))
        except OSError:
            return False
        if value >> 32 == 0xFFFF and _inside(*self.v4, value & 0xFFFFFFFF):  # ::ffff:a.b.c.d
            return True
        return _inside(*self.v6, value)

    def networks_text(self) -> list[str]:
        """The excluded ranges as the fewest CIDR blocks (merged), v4 first."""
        out: list[str] = []
        for family, (starts, ends) in ((ipaddress.IPv4Address, self.v4),
                                        (ipaddress.IPv6Address, self.v6)):
            for lo, hi in zip(starts, ends, strict=True):
                out += [str(n) for n in ipaddress.summarize_address_range(family(lo), family(hi))]
        return out

    def describe(self) -> dict[str, object]:
        """What the scan records among its settings."""
        return {"exclude": self.source, "exclude_sha256": self.sha256,
                "exclude_entries": self.entries, "exclude_networks": self.networks,
                "exclude_suffixes": len(self.suffixes)}


NOTHING = Exclusions()


def _entry(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | str:
    """One entry: a network, or a name key; raises ValueError with what is wrong."""
    if "/" in text or ":" in text or all(c in _ADDRESS_CHARS for c in text):
        try:
            return ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueError(f"{text!r} is not an IPv4/IPv6 address or CIDR range") from None
    if "*" in text:
        raise ValueError(f"{text!r}: wildcards are not entries (a name already covers all "
                         "names below it)")
    try:
        return relative(normalize_text(text))
    except BadName as exc:
        raise ValueError(f"{text!r} is neither an address range nor a domain name: "
                         f"{exc.reason}") from None


def parse(data: bytes, source: str) -> Exclusions:
    """The list in ``data`` (the bytes of file ``source``); raises :class:`ExclusionError`."""
    suffixes: set[str] = set()
    v4: list[tuple[int, int]] = []
    v6: list[tuple[int, int]] = []
    entries = networks = 0
    for number, raw in enumerate(data.split(b"\n"), 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ExclusionError(f"{source}:{number}: not UTF-8 text") from None
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        if len(text.split()) > 1:
            raise ExclusionError(f"{source}:{number}: one entry a line, found {text!r}")
        if text in (".", ""):
            raise ExclusionError(f"{source}:{number}: the root would exclude every name")
        try:
            got = _entry(text)
        except ValueError as exc:
            raise ExclusionError(f"{source}:{number}: {exc}") from None
        entries += 1
        if isinstance(got, str):
            suffixes.add(got)
        else:
            span = (int(got.network_address), int(got.broadcast_address))
            (v4 if got.version == 4 else v6).append(span)
            networks += 1
            if got.version == 6 and span[0] >> 32 == span[1] >> 32 == 0xFFFF:
                v4.append((span[0] & 0xFFFFFFFF, span[1] & 0xFFFFFFFF))  # ::ffff:a.b.c.d/n
    return Exclusions(source=source, sha256=hashlib.sha256(data).hexdigest(), entries=entries,
                      suffixes=frozenset(suffixes), v4=_merge(v4), v6=_merge(v6),
                      networks=networks, data=data)


def load(path: str) -> Exclusions:
    """The list in file ``path`` ("" = no list); raises :class:`ExclusionError` (one line)."""
    if not path:
        return NOTHING
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ExclusionError(f"{path}: cannot read the exclusion list: "
                             f"{exc.strerror or exc}") from None
    return parse(data, path)


def unbound_config(exclusions: Exclusions) -> str:
    """An unbound ``server:`` clause that applies the list at the recursive resolver too: no
    recursion for an excluded name or below (``always_refuse``: a CNAME from a scanned name into
    an excluded one stops there) and no query to a name server at an excluded address."""
    lines = ["# generated by danescan exclude --unbound from "
             f"{exclusions.source} (sha256 {exclusions.sha256})", "server:"]
    lines += [f'    local-zone: "{name}." always_refuse' for name in sorted(exclusions.suffixes)]
    lines += [f"    do-not-query-address: {net}" for net in exclusions.networks_text()]
    return "\n".join(lines) + "\n"
