"""Closed vocabularies shared by the lab's ground truth, the probes, the verdict and the schema.

Every result row carries one of these values as its first field (ZDNS style). The string values are
what is stored in ClickHouse and written to the lab's truth.jsonl, so they never change meaning;
new values may be added.
"""

from __future__ import annotations

from enum import StrEnum


class QueryStatus(StrEnum):
    """Outcome of one DNS query, as the resolver answered it (or did not)."""

    NOERROR = "NOERROR"  # answer or NODATA: the records (possibly none) are in the response
    NXDOMAIN = "NXDOMAIN"
    SERVFAIL = "SERVFAIL"
    REFUSED = "REFUSED"
    FORMERR = "FORMERR"
    TIMEOUT = "TIMEOUT"  # no answer after all attempts
    TRUNCATED = "TRUNCATED"  # TC set over UDP and the TCP retry failed too
    ERROR = "ERROR"  # anything else: socket error, unparsable response, bad name
    EXCLUDED = "EXCLUDED"  # not sent: the name is on the scan's exclusion list (workers.exclusion)


class DnssecStatus(StrEnum):
    """RFC 4033 section 5 security status of one RRset."""

    SECURE = "secure"
    INSECURE = "insecure"
    BOGUS = "bogus"
    INDETERMINATE = "indeterminate"  # the lookup failed, so nothing can be said


class DnssecReason(StrEnum):
    """Why an RRset has its status. ``NONE`` for secure answers."""

    NONE = ""
    # insecure
    MISSING_DS = "missing-ds"  # the zone is signed (has DNSKEY) but the parent has no DS
    UNSIGNED = "unsigned"  # no DNSKEY at all
    INSECURE_DELEGATION = "insecure-delegation"  # an ancestor above the zone's parent is insecure
    # bogus
    SIGNATURE_EXPIRED = "signature-expired"
    SIGNATURE_NOT_YET_VALID = "signature-not-yet-valid"
    SIGNATURE_INVALID = "signature-invalid"  # the crypto check failed
    RRSIG_MISSING = "rrsig-missing"
    DS_MISMATCH = "ds-mismatch"  # no DS at the parent matches any DNSKEY of the child
    NO_MATCHING_DNSKEY = "no-matching-dnskey"  # no DNSKEY has the RRSIG's key tag and algorithm
    UNSUPPORTED_ALGORITHM = "unsupported-algorithm"
    BOGUS_OTHER = "bogus-other"  # the resolver said bogus and our checks found no single cause
    INSECURE_OTHER = "insecure-other"  # no AD, yet the zone is signed with a secure DS: unexplained
    # indeterminate
    LOOKUP_FAILED = "lookup-failed"
    EXCLUDED = "excluded"  # never asked: the name is on the scan's exclusion list


class SmtpStatus(StrEnum):
    """How far a STARTTLS probe of one (MX host, IP) got. ``OK``: the handshake completed."""

    OK = "ok"
    CONNECT_REFUSED = "connect-refused"
    CONNECT_TIMEOUT = "connect-timeout"
    CONNECT_ERROR = "connect-error"
    BANNER_TIMEOUT = "banner-timeout"
    BANNER_REJECTED = "banner-rejected"  # 5xx (or 4xx) greeting
    BANNER_GARBAGE = "banner-garbage"  # not an SMTP reply, or an endless one
    EHLO_FAILED = "ehlo-failed"
    NO_STARTTLS = "no-starttls"
    STARTTLS_REJECTED = "starttls-rejected"  # e.g. 454
    HANDSHAKE_FAILED = "handshake-failed"
    HANDSHAKE_TIMEOUT = "handshake-timeout"
    CERT_UNPARSABLE = "cert-unparsable"
    PROBE_ERROR = "probe-error"  # our bug: the probe itself raised; never a server fault
    PROBE_TIMEOUT = "probe-timeout"  # every step in time, but the whole session over its deadline
    EXCLUDED = "excluded"  # no connection: the address is on the scan's exclusion list


class DaneReason(StrEnum):
    """Why an MX host does not validate (methodology.md section 3). ``NONE`` when valid."""

    NONE = ""
    NO_TLSA = "no-tlsa"  # no TLSA RRset: DANE is not deployed (not a failure)
    TLSA_LOOKUP_FAILED = "tlsa-lookup-failed"
    DNSSEC_INSECURE = "dnssec-insecure"
    DNSSEC_BOGUS = "dnssec-bogus"
    MISSING_DS = "missing-ds"  # insecure only because the parent lacks the DS; all else right
    NO_USABLE_TLSA = "no-usable-tlsa"  # every record has an unusable usage/selector/type
    NO_ADDRESS = "no-address"  # the MX host has no A/AAAA
    CONNECT_FAILED = "connect-failed"
    NO_STARTTLS = "no-starttls"
    HANDSHAKE_FAILED = "handshake-failed"
    CHAIN_INVALID = "chain-invalid"
    WRONG_USAGE = "wrong-usage"
    WRONG_SELECTOR = "wrong-selector"
    WRONG_MATCHING_TYPE = "wrong-matching-type"
    UNDEFINED_FIELD = "undefined-field"
    EMPTY_HASH = "empty-hash"
    MATCHES_OLD_CERTIFICATE = "matches-old-certificate"
    NAME_MISMATCH = "name-mismatch"
    # DANE-TA anchored the chain at a self-signed CA certificate that is outside its validity
    # period: OpenSSL (so Postfix) refuses the chain, "certificate has expired" (RFC view only)
    TA_EXPIRED = "ta-expired"
    NO_MATCH = "no-match"
    PROBE_ERROR = "probe-error"  # our probe failed (SmtpStatus.PROBE_ERROR): no verdict on the server
    # not looked at: the MX host's name or an address is on the scan's exclusion list (no verdict)
    EXCLUDED = "excluded"


class RfcOutcome(StrEnum):
    """What an RFC 7672 SMTP client (Postfix with ``dane``) does with this MX host."""

    VERIFIED = "verified"  # DANE authenticated: deliver
    NO_DANE = "no-dane"  # no secure TLSA RRset: opportunistic TLS, no authentication
    ENCRYPT_ONLY = "encrypt-only"  # secure TLSA, but no usable record: mandatory unauthenticated TLS
    DEFER = "defer"  # bogus TLSA, no match, no STARTTLS, handshake failure: do not deliver
    UNKNOWN = "unknown"  # our own probe failed, so what a client would do cannot be told


class ManagementClass(StrEnum):
    """Who runs the MX and the name servers of a domain (methodology.md section 4)."""

    SO = "SO"  # SMTP servers outsourced
    SSDO = "SSDO"  # SMTP self-managed, DNS outsourced
    SSDS = "SSDS"  # both self-managed
    MIXED = "mixed"
    UNKNOWN = "unknown"


class RolloverOutcome(StrEnum):
    """How one key change at an MX host went (methodology.md section 5)."""

    CORRECT = "correct"
    EARLY_RETRACT = "early-retract"
    SAME_TIME = "same-time"
    TOO_LATE = "too-late"
    NOT_UPDATED = "not-updated"
    UPDATED_LATER = "updated-later"
    SHORT_TTL = "short-ttl"
    # not judged (queries/DECISIONS.md): the publication lies before the query window, or the
    # TLSA RRset before the switch was not secure (DANE not in effect)
    BEFORE_WINDOW = "before-window"
    NOT_SECURE = "not-secure"
