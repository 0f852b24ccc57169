"""A TLSA key rollover, planned from the TTLs resolvers honour: pure logic, no I/O.

The rule (RFC 7671 section 8.1, methodology.md section 5, "current + next"): publish a record for
the next key beside the current one; the next key may go live only when every resolver that could
hold an older answer has let it expire. Once the record is served by every authoritative server
(``visible_at``), a resolver may still hold, for at most one TTL, what it fetched before:

* the TLSA RRset without the new record, for the RRset's TTL (the RRSIG's original TTL: what a
  validating resolver honours, whatever TTL a cache counts down);
* or, when the name did not exist, the negative answer, for the zone's negative TTL
  (RFC 2308: min(SOA TTL, SOA MINIMUM)), or for the TTL of the denial's NSEC/NSEC3 records when
  that is longer: a resolver with aggressive negative caching (RFC 8198) answers from a cached
  NSEC for its TTL, which signers before RFC 9077 set to the SOA MINIMUM.

The plan waits twice that TTL (the paper's ``correct``: the new record visible at t - 2T), which
also covers a resolver that re-fetched from a server not yet updated just before ``visible_at``.
The old record is withdrawn after the switch; until then both stay, so a cached RRset always
holds a record for whichever key the server presents.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from workers.dane.tlsa import TlsaRecord


@dataclass(frozen=True)
class Ttls:
    """What the zone says resolvers may hold. ``rrset_ttl``: the RRSIG original TTL of the TLSA
    RRset (None when there is no RRset yet); ``soa_ttl``/``soa_minimum``: the zone's SOA;
    ``denial_ttl``: the longest (original) TTL of the NSEC/NSEC3 records that deny the name."""

    rrset_ttl: int | None
    soa_ttl: int
    soa_minimum: int
    denial_ttl: int | None = None

    @property
    def negative_ttl(self) -> int:
        return min(self.soa_ttl, self.soa_minimum)

    def hold(self) -> tuple[int, str]:
        """The longest a resolver may hold an answer without the new record, and why."""
        if self.rrset_ttl is None:
            if self.denial_ttl is not None and self.denial_ttl > self.negative_ttl:
                return self.denial_ttl, (f"NSEC/NSEC3 TTL {self.denial_ttl} s of the denial, "
                                         f"longer than the negative TTL {self.negative_ttl} s: "
                                         "the TLSA name does not exist yet, and resolvers may "
                                         "deny it from a cached NSEC that long (RFC 8198)")
            return self.negative_ttl, (f"negative TTL {self.negative_ttl} s = min(SOA TTL "
                                       f"{self.soa_ttl}, SOA MINIMUM {self.soa_minimum}): "
                                       "the TLSA name does not exist yet")
        return self.rrset_ttl, f"TLSA RRset TTL {self.rrset_ttl} s (RRSIG original TTL)"


def _unique(records: tuple[TlsaRecord, ...] | list[TlsaRecord]) -> tuple[TlsaRecord, ...]:
    return tuple(dict.fromkeys(records))


@dataclass(frozen=True)
class RolloverPlan:
    """``publish_now``: the RRset to serve from now on (what is there, plus current and next);
    ``final``: the RRset after the old record is withdrawn; ``wait``: seconds from
    ``visible_at`` to the earliest switch."""

    owner: str
    current: tuple[TlsaRecord, ...]
    next: tuple[TlsaRecord, ...]
    existing: tuple[TlsaRecord, ...]
    publish_now: tuple[TlsaRecord, ...]
    add: tuple[TlsaRecord, ...]
    withdraw: tuple[TlsaRecord, ...]
    final: tuple[TlsaRecord, ...]
    ttl: int
    ttl_reason: str
    wait: int
    notes: tuple[str, ...] = ()

    @property
    def nothing_to_do(self) -> bool:
        """The next key is covered by the current records (a renewal that keeps the key, or a
        ``2 x x`` record of an issuer that stays): no record to add or withdraw."""
        return not self.add and not self.withdraw

    def switch_at(self, visible_at: dt.datetime) -> dt.datetime:
        return visible_at + dt.timedelta(seconds=self.wait)


def make_plan(owner: str, existing: tuple[TlsaRecord, ...], current: tuple[TlsaRecord, ...],
              next_: tuple[TlsaRecord, ...], ttls: Ttls) -> RolloverPlan:
    """The plan for moving from the ``current`` records' key to ``next_``'s, given the RRset
    published now (``existing``, possibly empty) and the zone's TTLs."""
    if not current or not next_:
        raise ValueError("a rollover needs a current and a next record")
    ttl, why = ttls.hold()
    notes: list[str] = []
    missing = [r for r in current if r not in existing]
    if existing and missing:
        notes.append("the published RRset has no record for the current key ("
                     + ", ".join(str(r) for r in missing) + "): DANE fails now for this key")
    publish_now = _unique([*existing, *current, *next_])
    add = tuple(r for r in publish_now if r not in existing)
    withdraw = tuple(r for r in _unique(current) if r not in next_)
    final = tuple(r for r in publish_now if r not in withdraw)
    covered = all(r in existing for r in next_)
    wait = 0 if covered and not withdraw else 2 * ttl
    if covered and existing:
        notes.append("the next key's record is published already: the wait counts from when "
                     "it was first seen at every authoritative server")
    return RolloverPlan(owner=owner, current=_unique(current), next=_unique(next_),
                        existing=existing, publish_now=publish_now, add=add, withdraw=withdraw,
                        final=final, ttl=ttl, ttl_reason=why, wait=wait, notes=tuple(notes))


class Step(StrEnum):
    PUBLISH_NEXT = "publish-next"  # add the next record (current + next)
    WAIT_VISIBLE = "wait-visible"  # sent: wait until every authoritative server serves it
    WAIT_SWITCH = "wait-switch"  # visible: wait 2 x TTL before the next key goes live
    SWITCH = "switch"  # the next key may go live now
    WITHDRAW_OLD = "withdraw-old"  # the next key is live: remove the old record
    DONE = "done"


@dataclass(frozen=True)
class RolloverState:
    """The plan's progress, kept in a small JSON file so ``publish`` can be re-run at any time
    (each step is done once; a step already done is skipped). Times are UTC."""

    owner: str
    zone: str
    current: tuple[str, ...]
    next: tuple[str, ...]
    ttl: int
    wait: int
    published_at: dt.datetime | None = None  # the update adding the next record was accepted
    visible_at: dt.datetime | None = None  # every authoritative server served it (first seen)
    switched_at: dt.datetime | None = None  # the next key went live (hook or publish --switched)
    withdrawn_at: dt.datetime | None = None  # the update removing the old record was accepted
    history: tuple[str, ...] = field(default=())

    @property
    def switch_at(self) -> dt.datetime | None:
        return None if self.visible_at is None else self.visible_at + dt.timedelta(
            seconds=self.wait)

    def step(self, now: dt.datetime) -> Step:
        if self.withdrawn_at is not None:
            return Step.DONE
        if self.switched_at is not None:
            return Step.WITHDRAW_OLD
        if self.published_at is None:
            return Step.PUBLISH_NEXT
        if self.visible_at is None:
            return Step.WAIT_VISIBLE
        switch_at = self.switch_at
        assert switch_at is not None
        return Step.SWITCH if now >= switch_at else Step.WAIT_SWITCH

    def seconds_to_switch(self, now: dt.datetime) -> int | None:
        """Seconds until the switch is allowed (0: now); None while the record is not visible."""
        switch_at = self.switch_at
        if switch_at is None:
            return None
        return max(0, int((switch_at - now).total_seconds() + 0.999))

    def did(self, what: str, when: dt.datetime, **changes: Any) -> RolloverState:
        return replace(self, history=(*self.history, f"{_iso(when)} {what}"), **changes)

    def same_plan(self, plan: RolloverPlan) -> bool:
        return (self.current == tuple(str(r) for r in plan.current)
                and self.next == tuple(str(r) for r in plan.next))

    def to_json(self) -> str:
        out: dict[str, Any] = {
            "owner": self.owner, "zone": self.zone, "current": list(self.current),
            "next": list(self.next), "ttl": self.ttl, "wait": self.wait,
            "history": list(self.history)}
        for name in ("published_at", "visible_at", "switched_at", "withdrawn_at"):
            value = getattr(self, name)
            out[name] = None if value is None else _iso(value)
        switch_at = self.switch_at  # for people reading the file; derived, not read back
        out["switch_allowed_at"] = None if switch_at is None else _iso(switch_at)
        return json.dumps(out, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> RolloverState:
        """ValueError when the text is not a state this module wrote."""
        try:
            data = json.loads(text)
            times = {name: _parse_time(data.get(name)) for name in
                     ("published_at", "visible_at", "switched_at", "withdrawn_at")}
            for records in (data["current"], data["next"]):
                for r in records:
                    TlsaRecord.from_text(r)
            return cls(owner=str(data["owner"]), zone=str(data["zone"]),
                       current=tuple(str(r) for r in data["current"]),
                       next=tuple(str(r) for r in data["next"]), ttl=int(data["ttl"]),
                       wait=int(data["wait"]),
                       history=tuple(str(h) for h in data.get("history", [])), **times)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a rollover state ({exc!r})") from None

    @classmethod
    def start(cls, plan: RolloverPlan, zone: str) -> RolloverState:
        return cls(owner=plan.owner, zone=zone, current=tuple(str(r) for r in plan.current),
                   next=tuple(str(r) for r in plan.next), ttl=plan.ttl, wait=plan.wait)


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: object) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"time {value!r} is not a string")
    t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if t.tzinfo is None:
        raise ValueError(f"time {value!r} has no zone")
    return t


def duration(seconds: int) -> str:
    """``2h 0m 0s`` style, for people."""
    h, rest = divmod(max(0, seconds), 3600)
    m, s = divmod(rest, 60)
    return f"{h}h {m}m {s}s" if h else (f"{m}m {s}s" if m else f"{s}s")
