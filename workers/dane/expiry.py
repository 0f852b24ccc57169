"""Will the next certificate renewal break DANE? (``danescan watch``, issue 15). Pure.

The paper's finding: automatic renewals replace the key and break ``3 x 1`` records, and a CA
moving a customer to another intermediate breaks ``2 x x`` records pinned to the old one. What
DANE rests on now is the set of presented certificates that a usable record designates (the leaf
for ``3 x x``, a CA certificate for ``2 x x``). A host is at risk when every one of them expires
within N days (or has expired: DANE-EE ignores dates, but a renewal is then due) and no usable
record is published for anything else: a record that designates no presented certificate is taken
for the next key (or the next CA), unless it matches a certificate the host presented before,
which makes it a stale record, not a next one.

So ``3 1 1`` of the leaf alone, the leaf expiring in 10 days: a risk; with a ``2 1 1`` record of an
issuer valid for another year: none (a renewal by the same CA is covered); with a ``3 1 1`` record
of another key beside it: none (the next key is published).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from workers.dane.certs import CertInfo, parse_cert, parse_chain
from workers.dane.tlsa import TlsaRecord, Usage

WARN_DAYS = 21


@dataclass(frozen=True)
class RenewalRisk:
    host: str
    not_after: dt.datetime  # of the pinned certificate that lasts longest
    days_left: int
    sentence: str


def _pins(record: TlsaRecord, depth: int) -> bool:
    """A usable record designates the certificate at ``depth`` the way its usage means it."""
    return (record.usage == Usage.DANE_EE) == (depth == 0)


def renewal_risk(host: str, records: Sequence[TlsaRecord], chain: Sequence[bytes],
                 now: dt.datetime, warn_days: int = WARN_DAYS, earlier: Sequence[bytes] = (),
                 ttl: int | None = None) -> RenewalRisk | None:
    """The risk for one presented chain under a TLSA RRset that validates it, or None.

    ``earlier``: DER certificates the host presented before (their records are not next keys).
    """
    parsed = parse_chain(tuple(chain))
    if parsed.leaf is None:
        return None
    usable = [r for r in records if r.usable]
    current = list(zip(parsed.positions, parsed.certs, strict=True))
    old = [c for c in (parse_cert(d) for d in earlier)
           if c is not None and all(c.der != p.der for p in parsed.certs)]
    for r in usable:
        if not any(c.matches(r) for _, c in current) and not any(c.matches(r) for c in old):
            return None  # the next key (or CA) is published
    pinned: list[tuple[int, CertInfo]] = [
        (depth, c) for depth, c in current if any(c.matches(r) and _pins(r, depth) for r in usable)]
    if not pinned:
        return None
    lasting = max(pinned, key=lambda p: p[1].cert.not_valid_after_utc)
    not_after = lasting[1].cert.not_valid_after_utc
    left = not_after - now
    if left > dt.timedelta(days=warn_days):
        return None
    days = left.days if left >= dt.timedelta(0) else -((-left).days)
    when = not_after.strftime("%Y-%m-%d")
    state = (f"expires on {when} (in {days} days)" if days >= 0
             else f"expired on {when} (DANE-EE ignores dates, but a renewal is due)")
    wait = f"2 x TTL = {2 * ttl} s" if ttl else "twice the TTL"
    if all(depth == 0 for depth, _ in pinned):
        sentence = (f"the certificate of {host} {state} and every TLSA record names its current "
                    f"key: a renewal with a new key will break DANE; publish the next key's "
                    f"record beside the current one now, at least {wait} before the renewal (or "
                    f"renew with the same key)")
    elif all(depth > 0 for depth, _ in pinned):
        names = "; ".join(c.cert.subject.rfc4514_string() for _, c in pinned)
        sentence = (f"the CA certificate the TLSA records of {host} pin ({names}) {state}, and no "
                    f"record for another CA or key is published: once the server's certificate "
                    f"comes from another intermediate, DANE breaks; publish the record of the "
                    f"next issuer (or one of the server's own key) beside the current ones now, "
                    f"at least {wait} before the change")
    else:
        names = "; ".join("its own certificate" if depth == 0
                          else c.cert.subject.rfc4514_string() for depth, c in pinned)
        sentence = (f"every certificate the TLSA records of {host} pin ({names}) {state}, and "
                    f"no record for another CA or key is published: a new key or a certificate "
                    f"from another intermediate will break DANE; publish the record of the next "
                    f"issuer or key beside the current ones now, at least {wait} before the "
                    f"change")
    return RenewalRisk(host, not_after, days, sentence)
