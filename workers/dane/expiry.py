"""Will the next certificate renewal break DANE? (``danescan watch``, issue 15). Pure.

The paper's finding: automatic renewals replace the key and break ``3 x 1`` records. A host is
at risk when its leaf certificate expires within N days (or has expired: DANE-EE ignores dates,
but a renewal is then due) and nothing published covers a new key: every usable record that
matches is a ``3 x x`` record of the current leaf and no other usable record is published (a
``2 x x`` record of the issuer covers a renewal by the same CA; a ``3 x x`` record of another
key is the next key, unless it matches a certificate the host presented before, which makes it a
stale record, not a next one).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from workers.dane.certs import parse_cert, parse_chain
from workers.dane.tlsa import TlsaRecord, Usage

WARN_DAYS = 21


@dataclass(frozen=True)
class RenewalRisk:
    host: str
    not_after: dt.datetime
    days_left: int
    sentence: str


def renewal_risk(host: str, records: Sequence[TlsaRecord], chain: Sequence[bytes],
                 now: dt.datetime, warn_days: int = WARN_DAYS, earlier: Sequence[bytes] = (),
                 ttl: int | None = None) -> RenewalRisk | None:
    """The risk for one presented chain under a TLSA RRset that validates it, or None.

    ``earlier``: DER certificates the host presented before (their records are not next keys).
    """
    parsed = parse_chain(tuple(chain))
    leaf = parsed.leaf
    if leaf is None:
        return None
    not_after = leaf.cert.not_valid_after_utc
    left = not_after - now
    if left > dt.timedelta(days=warn_days):
        return None
    usable = [r for r in records if r.usable]
    if not any(r.usage == Usage.DANE_EE and leaf.matches(r) for r in usable):
        return None  # DANE does not rest on the leaf's key: a renewal does not touch it
    old = [c for c in (parse_cert(d) for d in earlier) if c is not None and c.der != leaf.der]
    for r in usable:
        if r.usage == Usage.DANE_EE and leaf.matches(r):
            continue
        if any(c.matches(r) for c in old):
            continue  # a stale record of an earlier key
        return None  # a 2 x x record, or a record of another key: the next key is published
    days = left.days if left >= dt.timedelta(0) else -((-left).days)
    when = not_after.strftime("%Y-%m-%d")
    state = (f"expires on {when} (in {days} days)" if days >= 0
             else f"expired on {when} (DANE-EE ignores dates, but a renewal is due)")
    wait = f"2 x TTL = {2 * ttl} s" if ttl else "twice the TTL"
    sentence = (f"the certificate of {host} {state} and every TLSA record names its current key: "
                f"a renewal with a new key will break DANE; publish the next key's record beside "
                f"the current one now, at least {wait} before the renewal (or renew with the "
                f"same key)")
    return RenewalRisk(host, not_after, days, sentence)
