"""Pure JSON codecs: chunks of domains, MX host evidence and table rows as they travel in Redis."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from danescan.vocab import DnssecReason, DnssecStatus, QueryStatus
from workers.dns import DomainInput, MxHostEvidence, RRsetEvidence
from workers.dns.records import RrsigSummary
from workers.store.rows import BY_TABLE, Row

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


def encode_host(h: MxHostEvidence) -> dict[str, Any]:
    return {"host": h.host, "a": _rrset(h.a), "aaaa": _rrset(h.aaaa), "tlsa": _rrset(h.tlsa),
            "base": h.tlsa_base,
            "orig": _rrset(h.tlsa_original) if h.tlsa_original is not None else None,
            "cname": h.cname_target, "addr": list(h.addresses)}


def decode_host(d: dict[str, Any]) -> MxHostEvidence:
    return MxHostEvidence(
        host=d["host"], a=_unrrset(d["a"]), aaaa=_unrrset(d["aaaa"]), tlsa=_unrrset(d["tlsa"]),
        tlsa_base=d["base"], tlsa_original=_unrrset(d["orig"]) if d["orig"] is not None else None,
        cname_target=d["cname"], addresses=tuple(d["addr"]))


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


def _unvalue(v: Any) -> Any:
    if isinstance(v, dict):
        return base64.b64decode(v["b64"])
    return v


def encode_rows(rows: Sequence[Row]) -> list[list[Any]]:
    """[table, value, value, ...] per row, values in the row type's field order."""
    return [[r.TABLE, *(_value(getattr(r, f.name)) for f in fields(r))] for r in rows]


def decode_rows(items: Sequence[Sequence[Any]]) -> list[Row]:
    out: list[Row] = []
    for item in items:
        row_type = BY_TABLE.get(item[0])
        if row_type is None:
            raise ValueError(f"no such table: {item[0]!r}")
        out.append(row_type(*(_unvalue(v) for v in item[1:])))
    return out


def encode_message(scan_id: str, kind: str, key: str, domains: int, rows: Sequence[Row]) -> bytes:
    """One entry of the results list: the rows of one task, and what they complete."""
    return json.dumps({"scan": scan_id, "kind": kind, "key": key, "domains": domains,
                       "rows": encode_rows(rows)}, separators=(",", ":")).encode()


def decode_message(raw: bytes) -> tuple[dict[str, Any], list[Row]]:
    msg = json.loads(raw)
    return msg, decode_rows(msg["rows"])
