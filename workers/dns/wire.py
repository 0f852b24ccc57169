"""DNS wire format by hand, for the query engine and the plans. Pure.

Building a query by hand is ten times cheaper than ``dns.message.make_query(...).to_wire()``, and
parsing a response by hand (header, question, and the RR headers of every section, with names
decompressed) is several times cheaper than ``dns.message.from_wire``. The hand parser also never
refuses a record for its *content*: dnspython 2.9 raises on a TLSA whose data length does not fit
its matching type (or a DS whose digest does not fit its digest type), which would turn a whole
answer into an error; such records exist on purpose in the lab and by mistake on the Internet.

dnspython objects are built only where they are needed (the DNSSEC checks of RRsets that are not
secure): :func:`to_rrset` turns parsed RRs into a ``dns.rrset.RRset``, using
``dns.rdata.GenericRdata`` for any rdata dnspython refuses. A generic rdata has the same wire form,
so it signs and validates identically (TLSA and DS rdata hold no names, so their canonical form is
their wire form).
"""

from __future__ import annotations

import base64
import binascii
import socket
import struct
from typing import NamedTuple

import dns.exception
import dns.ipv6
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

EDNS_PAYLOAD = 1232
_FLAG_RD = 0x0100
_FLAG_CD = 0x0010
FLAG_AD = 0x0020
FLAG_TC = 0x0200
FLAG_QR = 0x8000
_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")
_U16 = struct.Struct("!H")
_RRSIG_HEAD = struct.Struct("!HBBIIIH")
# OPT pseudo-RR: root owner, type 41, class = payload size, ext-rcode 0, version 0, DO bit, rdlen 0
_OPT = b"\x00" + struct.pack("!HHBBHH", 41, EDNS_PAYLOAD, 0, 0, 0x8000, 0)

# rdata types whose rdata starts with (or is) a name that may be compressed
T_A, T_NS, T_CNAME, T_SOA, T_PTR, T_MX = 1, 2, 5, 6, 12, 15
T_AAAA, T_DNAME, T_OPT, T_DS, T_RRSIG, T_DNSKEY, T_TLSA = 28, 39, 41, 43, 46, 48, 52
_NAME_FIRST = frozenset({T_NS, T_CNAME, T_SOA, T_PTR, T_DNAME})

# label bytes that print as themselves (everything else is escaped the way dnspython does)
_PLAIN = bytes(range(ord("a"), ord("z") + 1)) + bytes(range(ord("0"), ord("9") + 1)) + b"-_*"
_ESCAPED = frozenset(b'"().;\\@$')


class WireError(ValueError):
    """A response that is not well-formed DNS (carries where it broke)."""


class RR(NamedTuple):
    """One resource record header, with its rdata's place in the message."""

    name: str  # owner: lower case, absolute, escaped like dnspython's to_text
    rtype: int
    rclass: int
    ttl: int
    offset: int  # of the rdata in the message
    rdlen: int
    target: str  # MX exchange, NS/CNAME/DNAME/PTR target, SOA mname, RRSIG signer; else ""
    covers: int  # RRSIG: the type covered; else 0


class Response:
    """A parsed response: header fields, question and the answer section as :class:`RR` lists;
    the authority and additional sections are parsed on first use (most answers never need
    them)."""

    __slots__ = ("_additional", "_authority", "_cache", "_counts", "_rest", "answer", "error",
                 "flags", "id", "question", "rcode", "wire")

    def __init__(self, wire: bytes, qid: int, flags: int, question: tuple[str, int],
                 answer: list[RR], rest: int, counts: tuple[int, int],
                 cache: dict[int, str]) -> None:
        self.wire = wire
        self.id = qid
        self.flags = flags
        self.rcode = flags & 0xF
        self.question = question
        self.answer = answer
        self._rest = rest  # offset of the authority section
        self._counts = counts
        self._cache = cache
        self._authority: list[RR] | None = None
        self._additional: list[RR] | None = None
        self.error = ""  # why a lazily parsed section was malformed (it reads as empty)

    @property
    def ad(self) -> bool:
        return bool(self.flags & FLAG_AD)

    @property
    def authority(self) -> list[RR]:
        if self._authority is None:
            try:
                self._authority, self._rest = _section(self.wire, self._rest, self._counts[0],
                                                       self._cache)
            except WireError as exc:
                self._authority, self._rest = [], -1
                self.error = f"authority section: {exc}"
        return self._authority

    @property
    def additional(self) -> list[RR]:
        if self._additional is None:
            self.authority  # noqa: B018  (moves _rest past the authority section)
            self._additional = []
            if self._rest >= 0:
                try:
                    self._additional, _ = _section(self.wire, self._rest, self._counts[1],
                                                   self._cache)
                except WireError as exc:
                    self.error = f"additional section: {exc}"
        return self._additional

    def rdata(self, rr: RR) -> bytes:
        return self.wire[rr.offset : rr.offset + rr.rdlen]


def _label_text(label: bytes) -> str:
    low = label.lower()
    if not low.translate(None, _PLAIN):
        return low.decode("ascii")
    out = []
    for c in low:
        if c in _ESCAPED:
            out.append("\\" + chr(c))
        elif 0x20 < c < 0x7F:
            out.append(chr(c))
        else:
            out.append(f"\\{c:03d}")
    return "".join(out)


def read_name(wire: bytes, off: int, cache: dict[int, str]) -> tuple[str, int]:
    """The name at ``off`` (text, lower case, absolute) and the offset after it.

    ``cache`` maps offsets already read to the text of the name from there on, so compression
    pointers cost a dictionary lookup. Pointers must go strictly backwards (no loops).
    """
    labels: list[str] = []
    starts: list[int] = []
    end = 0
    limit = off
    tail = "."
    size = 1
    while True:
        if off >= len(wire):
            raise WireError(f"name runs past the end at {off}")
        n = wire[off]
        if n == 0:
            off += 1
            break
        if n >= 0xC0:
            if off + 1 >= len(wire):
                raise WireError(f"truncated pointer at {off}")
            ptr = ((n & 0x3F) << 8) | wire[off + 1]
            if not end:
                end = off + 2
            hit = cache.get(ptr)
            if hit is not None:
                tail = hit
                break
            if ptr >= limit:
                raise WireError(f"compression pointer at {off} does not point backwards")
            limit = off = ptr
            continue
        if n > 63:
            raise WireError(f"unknown label type {n:#x} at {off}")
        label = wire[off + 1 : off + 1 + n]
        if len(label) != n:
            raise WireError(f"label runs past the end at {off}")
        starts.append(off)
        labels.append(_label_text(label))
        size += n + 1
        if size > 255:
            raise WireError(f"name longer than 255 octets at {off}")
        off += 1 + n
    if not end:
        end = off
    text = tail
    for i in range(len(labels) - 1, -1, -1):
        text = labels[i] + "." + (text if text != "." else "")
        cache[starts[i]] = text
    return text, end


def _section(wire: bytes, off: int, count: int, cache: dict[int, str]) -> tuple[list[RR], int]:
    out: list[RR] = []
    size = len(wire)
    for _ in range(count):
        name, off = read_name(wire, off, cache)
        if off + 10 > size:
            raise WireError(f"RR header runs past the end at {off}")
        rtype, rclass, ttl, rdlen = _RR.unpack_from(wire, off)
        off += 10
        if off + rdlen > size:
            raise WireError(f"rdata runs past the end at {off}")
        target = ""
        covers = 0
        if rtype == T_MX:
            if rdlen < 3:
                raise WireError(f"MX rdata too short at {off}")
            target = read_name(wire, off + 2, cache)[0]
        elif rtype == T_RRSIG:
            if rdlen < 19:
                raise WireError(f"RRSIG rdata too short at {off}")
            covers = (wire[off] << 8) | wire[off + 1]
            target = read_name(wire, off + 18, cache)[0]
        elif rtype in _NAME_FIRST:
            target = read_name(wire, off, cache)[0]
        out.append(RR(name, rtype, rclass, ttl, off, rdlen, target, covers))
        off += rdlen
    return out, off


def parse_response(wire: bytes, full: bool = False) -> Response:
    """Parse a response; raises :class:`WireError` when it is not well-formed. The authority and
    additional sections are parsed on first use, or at once with ``full`` (a response whose
    later sections are malformed then raises here, not later)."""
    if len(wire) < 12:
        raise WireError("shorter than a DNS header")
    qid, flags, qd, an, ns, ar = _HEADER.unpack_from(wire, 0)
    cache: dict[int, str] = {}
    off = 12
    question = (".", 0)
    for _ in range(qd):
        qname, off = read_name(wire, off, cache)
        if off + 4 > len(wire):
            raise WireError("question runs past the end")
        question = (qname, _U16.unpack_from(wire, off)[0])
        off += 4
    answer, off = _section(wire, off, an, cache)
    resp = Response(wire, qid, flags, question, answer, off, (ns, ar), cache)
    if full:
        resp.additional  # noqa: B018
        if resp.error:
            raise WireError(resp.error)
    return resp


# ---------------------------------------------------------------- queries


def _encode_name(qname: str) -> bytes:
    if qname == ".":
        return b"\x00"
    if "\\" in qname:
        raw = dns.name.from_text(qname).to_wire()
        assert raw is not None
        return raw
    out = bytearray()
    for label in qname.rstrip(".").split("."):
        data = label.encode("ascii")
        if not data or len(data) > 63:
            raise ValueError(f"bad label in {qname!r}")
        out.append(len(data))
        out += data
    out.append(0)
    if len(out) > 255:
        raise ValueError(f"name longer than 255 octets: {qname!r}")
    return bytes(out)


def question_wire(qname: str, qtype: str) -> bytes:
    """The question section for ``qname`` (absolute text) and ``qtype``."""
    return _encode_name(qname) + struct.pack("!HH", dns.rdatatype.from_text(qtype), 1)


def query_wire(qid: int, question: bytes, cd: bool) -> bytes:
    """A recursive query with EDNS0 (payload 1232) and the DO bit; CD when asked."""
    flags = _FLAG_RD | (_FLAG_CD if cd else 0)
    return _HEADER.pack(qid, flags, 1, 0, 0, 1) + question + _OPT


def response_id(wire: bytes) -> int:
    return (wire[0] << 8) | wire[1]


def is_truncated(wire: bytes) -> bool:
    return bool(wire[2] & 0x02)


def answers_question(wire: bytes, question: bytes) -> bool:
    """The response repeats our question (case-insensitively) and is a response."""
    return bool(wire[2] & 0x80) and wire[12 : 12 + len(question)].lower() == question.lower()


# ---------------------------------------------------------------- text and dnspython objects


def _chunks(text: str, size: int) -> str:
    if len(text) <= size:
        return text
    return " ".join(text[i : i + size] for i in range(0, len(text), size))


def rdata_text(resp: Response, rr: RR) -> str:
    """The rdata in presentation form, as dnspython's ``to_text()`` writes it, for any record
    (a record dnspython refuses is written by hand, or in RFC 3597 ``\\# len hex`` form)."""
    t = rr.rtype
    data = resp.wire[rr.offset : rr.offset + rr.rdlen]
    if t == T_A and rr.rdlen == 4:
        return socket.inet_ntoa(data)
    if t == T_MX:
        return f"{(data[0] << 8) | data[1]} {rr.target}"
    if t in (T_NS, T_CNAME, T_PTR, T_DNAME):
        return rr.target
    if t == T_TLSA and rr.rdlen >= 3:
        return f"{data[0]} {data[1]} {data[2]} {_chunks(data[3:].hex(), 128)}"
    if t == T_DS and rr.rdlen >= 4:
        return f"{(data[0] << 8) | data[1]} {data[2]} {data[3]} {_chunks(data[4:].hex(), 128)}"
    if t == T_DNSKEY and rr.rdlen >= 4:
        key = base64.b64encode(data[4:]).decode("ascii")
        return f"{(data[0] << 8) | data[1]} {data[2]} {data[3]} {_chunks(key, 32)}"
    if t == T_AAAA and rr.rdlen == 16:
        return dns.ipv6.inet_ntoa(data)
    return to_rdata(resp, rr).to_text()


def to_rdata(resp: Response, rr: RR) -> dns.rdata.Rdata:
    """dnspython's rdata for ``rr``; a :class:`dns.rdata.GenericRdata` when dnspython refuses it
    (same wire form, so it signs and validates the same)."""
    try:
        return dns.rdata.from_wire(_rdclass(rr.rclass), _rdtype(rr.rtype), resp.wire, rr.offset,
                                   rr.rdlen)
    except (dns.exception.DNSException, ValueError, binascii.Error):
        return dns.rdata.GenericRdata(_rdclass(rr.rclass), _rdtype(rr.rtype), resp.rdata(rr))


def to_rrset(resp: Response, rrs: list[RR]) -> dns.rrset.RRset:
    """A dnspython RRset of ``rrs`` (same owner and type): TTL the smallest of theirs."""
    first = rrs[0]
    out = dns.rrset.RRset(dns.name.from_text(first.name), _rdclass(first.rclass),
                          _rdtype(first.rtype), _rdtype(first.covers))
    for rr in rrs:
        out.add(to_rdata(resp, rr), rr.ttl)
    return out


def rr_text(resp: Response, rr: RR) -> str:
    """One record as a zone-file line."""
    return (f"{rr.name} {rr.ttl} {dns.rdataclass.to_text(_rdclass(rr.rclass))} "
            f"{type_text(rr.rtype)} {rdata_text(resp, rr)}")


def type_text(rtype: int) -> str:
    return dns.rdatatype.to_text(_rdtype(rtype))


def _rdtype(value: int) -> dns.rdatatype.RdataType:
    return dns.rdatatype.RdataType.make(value)


def _rdclass(value: int) -> dns.rdataclass.RdataClass:
    return dns.rdataclass.RdataClass.make(value)


def rrsig_fields(resp: Response, rr: RR) -> tuple[int, int, int, int, int, int, int]:
    """(type covered, algorithm, labels, original TTL, expiration, inception, key tag)."""
    fields: tuple[int, int, int, int, int, int, int] = _RRSIG_HEAD.unpack_from(resp.wire, rr.offset)
    return fields

