"""TLSA records (RFC 6698 section 2) and whether an SMTP client can use them (RFC 7672 3.1.3).

A record is *well formed* when its usage, selector and matching type are defined and its data has
the shape the matching type promises: a SHA-256 or SHA-512 digest of the right length, or for
Full(0) a DER certificate (selector 0) or DER SubjectPublicKeyInfo (selector 1) that parses. This
is the test OpenSSL's ``SSL_dane_tlsa_add`` applies; Postfix (3.x, tls_dane.c/tls_client.c) adds
every DNSSEC-validated record of usage 2/3 through that call, skips those it rejects ("unusable
TLSA RR"), and falls back to mandatory unauthenticated TLS when none is left.

A record is *usable* (RFC 7672 view) when it is well formed and its usage is DANE-TA(2) or
DANE-EE(3): usages PKIX-TA(0) and PKIX-EE(1) are not for SMTP (RFC 7672 3.1.3), and Postfix drops
them when it parses the RRset. The paper's view also uses well-formed PKIX records.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from functools import cached_property

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from workers.dane.loading import load_der


class Usage(IntEnum):
    PKIX_TA = 0
    PKIX_EE = 1
    DANE_TA = 2
    DANE_EE = 3


class Selector(IntEnum):
    CERT = 0
    SPKI = 1


class MatchingType(IntEnum):
    FULL = 0
    SHA256 = 1
    SHA512 = 2


DIGEST_LENGTH: dict[int, int] = {MatchingType.SHA256: 32, MatchingType.SHA512: 64}
EMPTY_DIGESTS: frozenset[bytes] = frozenset(
    {hashlib.sha256(b"").digest(), hashlib.sha512(b"").digest()}
)


class RecordDefect(StrEnum):
    """Why one TLSA record cannot be used. Checked in this order; the first that applies wins."""

    NONE = ""
    UNDEFINED_USAGE = "undefined-usage"  # not 0-3 (4-254 unassigned, 255 private use)
    UNDEFINED_SELECTOR = "undefined-selector"  # not 0-1
    UNDEFINED_MTYPE = "undefined-mtype"  # not 0-2
    BAD_DIGEST_LENGTH = "bad-digest-length"  # SHA-256 not 32 bytes / SHA-512 not 64 bytes
    BAD_FULL_DATA = "bad-full-data"  # Full(0) data is not a DER certificate / SPKI
    PKIX_USAGE = "pkix-usage"  # well formed, but usage 0/1: unusable in SMTP (RFC 7672 3.1.3)

    @property
    def undefined(self) -> bool:
        """True for the defects the paper calls "undefined field"."""
        return self in _UNDEFINED


_UNDEFINED = frozenset(
    {RecordDefect.UNDEFINED_USAGE, RecordDefect.UNDEFINED_SELECTOR, RecordDefect.UNDEFINED_MTYPE}
)


def _full_data_parses(selector: int, data: bytes) -> bool:
    """A Full(0) certificate must parse as one (OpenSSL's d2i_X509: its key need not be one
    ``cryptography`` can load; loaded quietly, see workers.dane.loading); a Full(0) key must
    load as a public key."""
    if selector == Selector.CERT:
        return load_der(data).cert is not None
    try:
        serialization.load_der_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


@dataclass(frozen=True)
class TlsaRecord:
    """One TLSA RR: ``usage selector mtype data`` (data as raw bytes, not hex)."""

    usage: int
    selector: int
    mtype: int
    data: bytes

    def __post_init__(self) -> None:
        for name in ("usage", "selector", "mtype"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value <= 255:
                raise ValueError(f"TLSA {name} must be an integer 0-255, got {value!r}")
        if not isinstance(self.data, bytes):
            raise TypeError("TLSA data must be bytes")

    @classmethod
    def from_text(cls, text: str) -> TlsaRecord:
        """Parse presentation form ``"3 1 1 ab12..."`` (whitespace inside the hex allowed)."""
        parts = text.split()
        if len(parts) < 4:
            raise ValueError(f"TLSA record needs 4 fields: {text!r}")
        return cls(int(parts[0]), int(parts[1]), int(parts[2]), bytes.fromhex("".join(parts[3:])))

    def __str__(self) -> str:
        return f"{self.usage} {self.selector} {self.mtype} {self.data.hex()}"

    @cached_property
    def form_defect(self) -> RecordDefect:
        """What is wrong with the record itself, whatever the application (NONE if well formed)."""
        if self.usage > Usage.DANE_EE:
            return RecordDefect.UNDEFINED_USAGE
        if self.selector > Selector.SPKI:
            return RecordDefect.UNDEFINED_SELECTOR
        if self.mtype > MatchingType.SHA512:
            return RecordDefect.UNDEFINED_MTYPE
        if self.mtype == MatchingType.FULL:
            if not _full_data_parses(self.selector, self.data):
                return RecordDefect.BAD_FULL_DATA
        elif len(self.data) != DIGEST_LENGTH[self.mtype]:
            return RecordDefect.BAD_DIGEST_LENGTH
        return RecordDefect.NONE

    @property
    def defect(self) -> RecordDefect:
        """Why an RFC 7672 SMTP client cannot use the record (NONE when it can)."""
        form = self.form_defect
        if form is not RecordDefect.NONE:
            return form
        if self.usage in (Usage.PKIX_TA, Usage.PKIX_EE):
            return RecordDefect.PKIX_USAGE
        return RecordDefect.NONE

    @property
    def well_formed(self) -> bool:
        return self.form_defect is RecordDefect.NONE

    @property
    def usable(self) -> bool:
        """Usable by an RFC 7672 SMTP client (well formed, usage 2 or 3)."""
        return self.defect is RecordDefect.NONE

    @property
    def is_empty_hash(self) -> bool:
        """The data is the SHA-256 or SHA-512 digest of the empty string."""
        return self.data in EMPTY_DIGESTS

    @property
    def is_ta(self) -> bool:
        return self.usage in (Usage.PKIX_TA, Usage.DANE_TA)


# Postfix's default ``tls_dane_digests = sha512 sha256``: SHA-512 is preferred.
POSTFIX_DIGEST_PREFERENCE: tuple[int, ...] = (MatchingType.SHA512, MatchingType.SHA256)


def agility_filter(
    records: tuple[TlsaRecord, ...], preference: tuple[int, ...] = POSTFIX_DIGEST_PREFERENCE
) -> tuple[TlsaRecord, ...]:
    """Digest algorithm agility (RFC 7671 section 9) as OpenSSL applies it for Postfix.

    Within each (usage, selector) pair only the records of the most preferred digest type present
    are kept; Full(0) records are always kept. Only usable records should be passed in (OpenSSL
    never sees records it rejected).
    """
    best: dict[tuple[int, int], int] = {}
    rank = {m: i for i, m in enumerate(preference)}
    for r in records:
        if r.mtype == MatchingType.FULL:
            continue
        key = (r.usage, r.selector)
        r_rank = rank.get(r.mtype, len(rank))
        if key not in best or r_rank < rank.get(best[key], len(rank)):
            best[key] = r.mtype
    return tuple(
        r for r in records if r.mtype == MatchingType.FULL or best[(r.usage, r.selector)] == r.mtype
    )
