"""Pure JSON codecs: chunks of domains, MX host evidence and table rows as they travel in Redis.

A result message comes back through ``decode_message``, which trusts nothing: any bytes give either
rows of the right types or one ``DecodeError`` (never RecursionError, KeyError, ...), so that the
writer can set the message aside and go on.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import operator
import re
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import MISSING, dataclass, fields
from itertools import repeat
from typing import Any

from workers.dns import DomainInput, MxHostEvidence, QueryRecord, RRsetEvidence
from workers.dns.records import RrsigSummary
from workers.names import BadName, normalize_name
from workers.store.rows import BY_TABLE, Row
from workers.vocab import DnssecReason, DnssecStatus, QueryStatus

# -- chunks of domains -------------------------------------------------------------------------


def encode_chunk(domains: Sequence[DomainInput]) -> list[Any]:
    """Compact: a bare name, or [name, ns, ds] when the zone file told more."""
    out: list[Any] = []
    for d in domains:
        if d.ns is None and d.ds_in_parent is None:
            out.append(d.name)
        else:
            out.append([d.name, list(d.ns) if d.ns is not None else None,
                        None if d.ds_in_parent is None else int(d.ds_in_parent)])
    return out


def decode_chunk(payload: Any) -> list[DomainInput]:
    if not isinstance(payload, list):
        raise ValueError(f"a chunk is a list, not {type(payload).__name__}")
    out: list[DomainInput] = []
    for item in payload:
        if isinstance(item, str):
            out.append(DomainInput(item))
        elif isinstance(item, list) and len(item) == 3 and isinstance(item[0], str):
            ns = tuple(str(n) for n in item[1]) if item[1] is not None else None
            out.append(DomainInput(item[0], ns, None if item[2] is None else bool(item[2])))
        else:
            raise ValueError(f"not a domain of a chunk: {str(item)[:80]}")
    return out


def encode_hosts(hosts: Sequence[str]) -> list[str]:
    """A chunk of MX host names (the hourly re-scan)."""
    return [h.rstrip(".").lower() for h in hosts]


def decode_hosts(payload: Any) -> list[str]:
    """Fully qualified (trailing dot), lower case; ValueError for anything not a host name."""
    if not isinstance(payload, list):
        raise ValueError(f"a host chunk is a list, not {type(payload).__name__}")
    out: list[str] = []
    for item in payload:
        if not isinstance(item, str) or not item.strip(".") or len(item) > 254:
            raise ValueError(f"not a host name of a chunk: {str(item)[:80]}")
        try:
            out.append(normalize_name(item).to_text().lower())
        except BadName as exc:
            raise ValueError(f"not a host name of a chunk: {str(item)[:80]}: {exc}") from None
    return out


# -- MX host evidence (what judge() needs; the raw queries stay behind) -------------------------


def _rrset(rr: RRsetEvidence) -> dict[str, Any]:
    return {"name": rr.name, "rtype": rr.rtype, "q": str(rr.query_status),
            "s": str(rr.dnssec_status), "r": str(rr.dnssec_reason), "ttl": rr.ttl,
            "rec": list(rr.records),
            "sig": [[s.type_covered, s.algorithm, s.labels, s.original_ttl, s.inception,
                     s.expiration, s.key_tag, s.signer] for s in rr.rrsigs],
            "cn": list(rr.cname_chain), "cd": rr.from_cd, "zone": rr.zone, "detail": rr.detail}


def _unrrset(d: dict[str, Any]) -> RRsetEvidence:
    return RRsetEvidence(
        name=d["name"], rtype=d["rtype"], query_status=QueryStatus(d["q"]),
        dnssec_status=DnssecStatus(d["s"]), dnssec_reason=DnssecReason(d["r"]), ttl=d["ttl"],
        records=tuple(d["rec"]),
        rrsigs=tuple(RrsigSummary(s[0], int(s[1]), int(s[2]), int(s[3]), int(s[4]), int(s[5]),
                                  int(s[6]), s[7]) for s in d["sig"]),
        cname_chain=tuple(d["cn"]), from_cd=bool(d["cd"]), zone=d["zone"], detail=d["detail"])


def _provenance(h: MxHostEvidence) -> list[list[Any]]:
    """The queries behind the host's RRsets, reduced to what the rows store (when sent, how
    long, how many tries, how it ended): the rest of the raw queries stays behind."""
    wanted = {(rr.name, rr.rtype) for rr in (h.a, h.aaaa, h.tlsa, h.tlsa_original)
              if rr is not None}
    return [[q.qname, q.qtype, q.cd, str(q.status), q.sent_at, q.duration, q.attempts]
            for q in h.queries if (q.qname, q.qtype) in wanted]


def _unprovenance(items: list[list[Any]]) -> tuple[QueryRecord, ...]:
    return tuple(
        QueryRecord(status=QueryStatus(st), qname=str(n), qtype=str(t), cd=bool(cd), ad=False,
                    resolver="", sent_at=float(at), duration=float(dur), attempts=int(tries),
                    transport="")
        for n, t, cd, st, at, dur, tries in items)


def encode_host(h: MxHostEvidence) -> dict[str, Any]:
    return {"host": h.host, "a": _rrset(h.a), "aaaa": _rrset(h.aaaa), "tlsa": _rrset(h.tlsa),
            "base": h.tlsa_base,
            "orig": _rrset(h.tlsa_original) if h.tlsa_original is not None else None,
            "cname": h.cname_target, "addr": list(h.addresses), "cut": h.addresses_cut,
            "qs": _provenance(h)}


def decode_host(d: dict[str, Any]) -> MxHostEvidence:
    return MxHostEvidence(
        host=d["host"], a=_unrrset(d["a"]), aaaa=_unrrset(d["aaaa"]), tlsa=_unrrset(d["tlsa"]),
        tlsa_base=d["base"], tlsa_original=_unrrset(d["orig"]) if d["orig"] is not None else None,
        cname_target=d["cname"], addresses=tuple(d["addr"]), addresses_cut=int(d.get("cut", 0)),
        queries=_unprovenance(d.get("qs", [])))


# -- rows ---------------------------------------------------------------------------------------


def _value(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        aware = v if v.tzinfo else v.replace(tzinfo=dt.UTC)
        return int(aware.timestamp())  # DateTime columns hold seconds; the writer takes ints
    if isinstance(v, bytes):
        return {"b64": base64.b64encode(v).decode()}
    if isinstance(v, tuple):
        return list(v)
    return v


_GETTERS: dict[type, Callable[[Any], tuple[Any, ...]]] = {}


def _getter(cls: type) -> Callable[[Any], tuple[Any, ...]]:
    """The row type's values in field order, as one attrgetter (``fields()`` per row cost a
    worker process about 2 % of its CPU)."""
    got = _GETTERS.get(cls)
    if got is None:
        names = [f.name for f in fields(cls)]
        if len(names) == 1:
            only = operator.attrgetter(names[0])
            got = _GETTERS[cls] = lambda r: (only(r),)
        else:
            got = _GETTERS[cls] = operator.attrgetter(*names)
    return got


def encode_rows(rows: Sequence[Row]) -> list[list[Any]]:
    """[table, value, value, ...] per row, values in the row type's field order."""
    return [[r.TABLE, *map(_value, _getter(type(r))(r))] for r in rows]


class DecodeError(ValueError):
    """A result message that does not decode: one line saying where and what is wrong."""


@dataclass(frozen=True)
class _Field:
    name: str
    types: tuple[type, ...]  # what the decoded JSON value may be
    items: tuple[type, ...] | None  # for a list: what its items may be
    want: str  # for messages


@dataclass(frozen=True)
class _RowSpec:
    row_type: type[Row]
    required: int  # values without a default (a message from an older worker may lack the rest)
    fields: tuple[_Field, ...]
    kinds: tuple[tuple[type, ...], ...]  # fields[i].types, for one C-speed isinstance pass
    lists: tuple[tuple[int, tuple[type, ...]], ...]  # (index, item types) of the list fields


def _accepts(hint: Any) -> tuple[tuple[type, ...], tuple[type, ...] | None]:
    """Decoded-JSON types a field annotation takes: datetimes travel as epoch seconds, bytes as
    {"b64": ...}, tuples as lists; an annotation not understood here takes anything."""
    if hint is dt.datetime:
        return (int, float), None
    if hint is float:
        return (int, float), None
    if hint in (str, int, bytes):
        return (hint,), None
    origin = typing.get_origin(hint)
    if origin in (list, tuple):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        items = tuple(t for a in args for t in _accepts(a)[0])
        return (list,), items or (object,)
    if origin in (typing.Union, types.UnionType):
        found = [_accepts(a) for a in typing.get_args(hint)]
        kinds = tuple(dict.fromkeys(t for k, _ in found for t in k))
        item_sets = [i for _, i in found if i is not None]
        elems = tuple(dict.fromkeys(t for i in item_sets for t in i)) if item_sets else None
        return kinds, elems
    return (object,), None


def _spec(row_type: type[Row]) -> _RowSpec:
    try:
        hints = typing.get_type_hints(row_type)
    except (NameError, TypeError):  # an annotation not resolvable at run time: no checks
        hints = {}
    out: list[_Field] = []
    for f in fields(row_type):
        kinds, items = _accepts(hints.get(f.name))
        want = "/".join(t.__name__ for t in kinds)
        if items is not None:
            want += " of " + "/".join(t.__name__ for t in items)
        out.append(_Field(f.name, kinds, items, want))
    required = sum(1 for f in fields(row_type)
                   if f.default is MISSING and f.default_factory is MISSING)
    return _RowSpec(row_type, required, tuple(out), tuple(f.types for f in out),
                    tuple((i, f.items) for i, f in enumerate(out) if f.items is not None))


_SPECS: dict[str, _RowSpec] = {t: _spec(rt) for t, rt in BY_TABLE.items()}


def _clip(text: str, n: int = 60) -> str:
    return repr(text[:n]) + ("..." if len(text) > n else "")


def _unvalue(v: dict[str, Any], where: str) -> bytes:
    """A {"b64": ...} object back into bytes."""
    b64 = v.get("b64")
    if len(v) != 1 or not isinstance(b64, str):
        raise DecodeError(f"{where}: an object that is not {{\"b64\": string}}")
    try:
        return base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DecodeError(f"{where}: bad base64 ({exc})") from exc


def _values(spec: _RowSpec, values: list[Any], where: str) -> list[Any]:
    """The slow path, for rows with bytes or a fault: {"b64"} objects into bytes, and the first
    value of a wrong type named."""
    out: list[Any] = []
    for raw, f in zip(values, spec.fields, strict=False):
        v: Any = _unvalue(raw, f"{where} {f.name}") if type(raw) is dict else raw
        if not isinstance(v, f.types) or (f.items is not None and not all(
                isinstance(x, f.items) for x in typing.cast(list[Any], v))):
            got = type(v).__name__
            if f.items is not None and isinstance(v, list):
                got += " of " + "/".join(sorted({type(x).__name__ for x in v}))
            raise DecodeError(f"{where} {f.name}: {got}, not {f.want}")
        out.append(v)
    return out


def decode_rows(items: Any) -> list[Row]:
    """Rows back from [table, value, ...] lists; DecodeError names the first row that is not one
    of a known table with values of the right types."""
    if type(items) is not list:
        raise DecodeError(f"rows are a list, not {type(items).__name__}")
    out: list[Row] = []
    for i, item in enumerate(items):
        if type(item) is not list or not item or type(item[0]) is not str:
            raise DecodeError(f"row {i}: not a [table, value, ...] list")
        spec = _SPECS.get(item[0])
        if spec is None:
            raise DecodeError(f"row {i}: no such table: {_clip(item[0])}")
        values = item[1:]
        if not spec.required <= len(values) <= len(spec.fields):
            raise DecodeError(f"row {i} ({item[0]}): {len(values)} values, the table takes "
                              f"{spec.required} to {len(spec.fields)}")
        if not (all(map(isinstance, values, spec.kinds))
                and all(all(map(isinstance, values[j], repeat(t)))
                        for j, t in spec.lists if j < len(values))):
            values = _values(spec, values, f"row {i} ({item[0]})")
        out.append(spec.row_type(*values))
    return out


def encode_message(scan_id: str, kind: str, key: str, domains: int, rows: Sequence[Row]) -> bytes:
    """One entry of the results list: the rows of one task, and what they complete."""
    return json.dumps({"scan": scan_id, "kind": kind, "key": key, "domains": domains,
                       "rows": encode_rows(rows)}, separators=(",", ":")).encode()


ENVELOPE = {"scan": str, "kind": str, "key": str, "domains": int}


def decode_message(raw: bytes) -> tuple[dict[str, Any], list[Row]]:
    """One entry of the results list: its envelope (scan, kind, key, domains) and its rows.
    Anything else (not JSON, not UTF-8, nested deeper than the decoder goes, a wrong shape, a
    value of a wrong type) raises DecodeError, with one line."""
    try:
        msg = json.loads(raw)
    except RecursionError as exc:
        raise DecodeError("nested too deeply to decode") from exc
    except (ValueError, TypeError) as exc:  # JSONDecodeError and UnicodeDecodeError included
        raise DecodeError(f"not JSON: {' '.join(str(exc).split())[:120]}") from exc
    if type(msg) is not dict:
        raise DecodeError(f"a message is a JSON object, not {type(msg).__name__}")
    for name, kind in ENVELOPE.items():
        value = msg.get(name)
        if type(value) is not kind:
            raise DecodeError(f"{name!r} is {type(value).__name__}, not {kind.__name__}")
    if msg["domains"] < 0:
        raise DecodeError(f"'domains' is negative ({msg['domains']})")
    if "rows" not in msg:
        raise DecodeError("no 'rows'")
    return msg, decode_rows(msg["rows"])


_STR = rb'\s*("(?:[^"\\]|\\.){0,500}")\s*'
_HEAD = re.compile(rb'\s*\{\s*"scan"\s*:' + _STR + rb',\s*"kind"\s*:' + _STR
                   + rb',\s*"key"\s*:' + _STR + rb',\s*"domains"\s*:\s*(\d{1,12})\s*[,}]')


def envelope(raw: bytes) -> dict[str, Any]:
    """What a message that may not decode says about itself, as far as that can be read: the
    fields of the envelope that have the right type, from the whole message when it is JSON, else
    from its first bytes (in the order encode_message writes them)."""
    try:
        msg = json.loads(raw)
    except (ValueError, TypeError, RecursionError):
        msg = None
    if type(msg) is dict:
        found = {k: msg[k] for k, t in ENVELOPE.items() if type(msg.get(k)) is t}
        if found.get("domains", 0) < 0:
            del found["domains"]
        return found
    m = _HEAD.match(raw[:2200])
    if m is None:
        return {}
    try:
        scan, kind, key = (json.loads(g) for g in m.groups()[:3])
    except (ValueError, RecursionError):
        return {}
    return {"scan": scan, "kind": kind, "key": key, "domains": int(m.group(4))}
