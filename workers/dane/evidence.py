"""What the verdict is computed from: the TLSA lookup and the STARTTLS probe of one MX host."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from workers.dane.tlsa import TlsaRecord
from workers.vocab import DnssecReason, DnssecStatus, QueryStatus, SmtpStatus

ANSWERED = frozenset({QueryStatus.NOERROR, QueryStatus.NXDOMAIN})


@dataclass(frozen=True)
class TlsaEvidence:
    """The TLSA lookup at ``_25._tcp.<mx host>``.

    ``status`` is how the query went: only NOERROR and NXDOMAIN are answers. A failed lookup
    (SERVFAIL, TIMEOUT, ...) is never "no records", even though ``records`` is empty then.
    ``dnssec``/``dnssec_reason`` describe the RRset (or the denial of existence when empty).
    """

    status: QueryStatus
    dnssec: DnssecStatus
    dnssec_reason: DnssecReason = DnssecReason.NONE
    records: tuple[TlsaRecord, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "records", tuple(self.records))
        if self.status not in ANSWERED and self.records:
            raise ValueError(f"a {self.status} lookup cannot carry records")

    @classmethod
    def of(
        cls,
        records: Iterable[TlsaRecord],
        dnssec: DnssecStatus = DnssecStatus.SECURE,
        dnssec_reason: DnssecReason = DnssecReason.NONE,
    ) -> TlsaEvidence:
        """An answered lookup (NOERROR) with these records."""
        return cls(QueryStatus.NOERROR, dnssec, dnssec_reason, tuple(records))

    @property
    def answered(self) -> bool:
        return self.status in ANSWERED and self.dnssec is not DnssecStatus.INDETERMINATE


@dataclass(frozen=True)
class TlsEvidence:
    """The STARTTLS probe: how far it got and the chain the server sent (DER, leaf first)."""

    status: SmtpStatus
    chain: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "chain", tuple(self.chain))
