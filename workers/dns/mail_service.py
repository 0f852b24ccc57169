"""Which domains have a mail service at all: RFC 5321 section 5.1's implicit MX, settled.

Pure. A domain without MX records is its own mail host only when it has an address: "If an empty
list of MXs is returned, the address is treated as if it was associated with an implicit MX RR".
A domain with neither MX nor A/AAAA has no mail service: it is recorded as such (``no_mail``), is
not an MX host of itself, and gets no verdict. Whether the address lookups answered matters: a
lookup that failed says nothing, so the implicit MX stays (and its host is judged from the
failure), never "no mail service".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from workers.dns.records import DomainEvidence, MxHostEvidence


def has_no_address(host: MxHostEvidence) -> bool:
    """Both address lookups answered (NOERROR/NXDOMAIN) and neither has a record."""
    return (not host.addresses and not host.a.failed and not host.aaaa.failed
            and not host.a.records and not host.aaaa.records)


def settle_implicit_mx(domains: Sequence[DomainEvidence], hosts: Sequence[MxHostEvidence]
                       ) -> tuple[tuple[DomainEvidence, ...], tuple[MxHostEvidence, ...]]:
    """Domains whose implicit MX host has no address get ``no_mail`` and lose that host; the
    host's evidence is dropped too unless another domain names it in its MX set."""
    by_name = {h.host: h for h in hosts}
    settled: list[DomainEvidence] = []
    dropped: set[str] = set()
    for d in domains:
        host = by_name.get(d.domain) if d.implicit_mx else None
        if host is not None and has_no_address(host):
            settled.append(dataclasses.replace(d, implicit_mx=False, mx_hosts=(), no_mail=True))
            dropped.add(host.host)
        else:
            settled.append(d)
    if not dropped:
        return tuple(settled), tuple(hosts)
    still_used = {h for d in settled for h in d.mx_hosts}
    return tuple(settled), tuple(h for h in hosts if h.host not in dropped or h.host in still_used)
