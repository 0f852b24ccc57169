"""One frozen dataclass per table: what the pure processors produce and the writer stores.

Field names equal the column names of queries/migrations (a test checks this). Enum-like fields hold
values of workers/vocab.py as plain strings. Times are ``datetime`` (naive means UTC) or epoch
seconds. The writer fills the provenance columns that belong to the write itself: ``worker_host``,
``written_at`` and ``version``; ``attempt`` (the task's retry count) comes with the row.

Columns fed from the network or a file: each one's type, the range of what can arrive, and whether
it is wide enough or clamped (with the row's ``clamped`` column saying so) are listed in
queries/migrations/0009_evidence_ranges.sql; clamping is workers/store/ranges.py. Added since:
0010 ``no_mail`` (a flag); 0012 ``mx_hosts_cut`` and ``addresses_cut``, UInt32 counts of the
records of one DNS message (< 65536): they fit.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import ClassVar

Time = datetime | int

WRITER_COLUMNS = ("worker_host", "written_at", "version")
EPOCH = 0


@dataclass(frozen=True, slots=True)
class ScanRow:
    TABLE: ClassVar[str] = "scans"
    scan_id: str
    kind: str  # nightly | hourly | adhoc
    started_at: Time
    finished_at: Time = EPOCH
    inputs: tuple[str, ...] | list[str] = ()
    settings: str = "{}"  # JSON object
    software_version: str = ""
    status: str = "running"  # running | finished | incomplete | failed | interrupted
    attempt: int = 0
    status_reason: str = ""  # why a scan is incomplete: its damaged inputs (migration 0011)


@dataclass(frozen=True, slots=True)
class DomainRow:
    TABLE: ClassVar[str] = "domains"
    scan_id: str
    domain: str
    tld: str
    ns: tuple[str, ...] | list[str]
    ds_in_parent: int
    has_dnskey: int
    mx: tuple[str, ...] | list[str]
    mx_preferences: tuple[int, ...] | list[int]
    implicit_mx: int
    null_mx: int
    mx_status: str  # QueryStatus
    mx_dnssec_status: str  # DnssecStatus
    mx_dnssec_reason: str  # DnssecReason
    status: str  # QueryStatus
    attempt: int = 0
    registered: str = ""  # by the Public Suffix List (migration 0008)
    mx_registered: tuple[str, ...] | list[str] = ()  # parallel to mx
    ns_registered: tuple[str, ...] | list[str] = ()  # parallel to ns
    error: str = ""  # why the domain name was refused (migration 0009)
    bad_mx: tuple[str, ...] | list[str] = field(default_factory=list)  # MX targets refused
    bad_mx_reasons: tuple[str, ...] | list[str] = field(default_factory=list)  # why, parallel
    no_mail: int = 0  # neither MX nor address: no mail service, no MX host (migration 0010)
    mx_hosts_cut: int = 0  # MX targets past the bound: not looked up (migration 0012)


@dataclass(frozen=True, slots=True)
class DnsRrsetRow:
    TABLE: ClassVar[str] = "dns_rrsets"
    scan_id: str
    qname: str
    qtype: str
    status: str  # QueryStatus
    rcode: int  # -1 when no response came
    ttl: int
    records: tuple[str, ...] | list[str]
    rrsig_count: int
    rrsigs: tuple[str, ...] | list[str]
    dnssec_status: str  # DnssecStatus
    dnssec_reason: str  # DnssecReason
    resolver: str
    queried_at: Time
    duration_ms: float
    attempts: int
    attempt: int = 0


@dataclass(frozen=True, slots=True)
class TlsaRecordRow:
    TABLE: ClassVar[str] = "tlsa_records"
    scan_id: str
    mx_host: str
    base_name: str
    usage: int
    selector: int
    mtype: int
    data: str  # lower-case hex
    ttl: int
    dnssec_status: str
    dnssec_reason: str
    attempt: int = 0


@dataclass(frozen=True, slots=True)
class StarttlsProbeRow:
    TABLE: ClassVar[str] = "starttls_probes"
    scan_id: str
    mx_host: str
    ip: str
    status: str  # SmtpStatus
    step: str
    banner: str
    ehlo: str
    starttls_reply: str
    tls_version: str
    cipher: str
    chain: tuple[str, ...] | list[str]  # SHA-256 hex, leaf first
    probed_at: Time
    connect_ms: float
    banner_ms: float
    handshake_ms: float
    total_ms: float
    error: str
    attempt: int = 0
    chain_truncated: int = 0  # more certificates were sent than kept (migration 0009)
    inferred_from: str = ""  # not probed: the outcome of this MX host's probe (migration 0012)


@dataclass(frozen=True, slots=True)
class CertificateRow:
    TABLE: ClassVar[str] = "certificates"
    sha256: str
    der: bytes
    subject: str
    issuer: str
    san: tuple[str, ...] | list[str]
    not_before: Time
    not_after: Time
    spki_sha256: str
    spki_sha512: str
    key_type: str
    key_bits: int
    is_ca_issued: int
    issuer_org: str
    issuer_cn: str
    first_seen: Time
    scan_id: str
    attempt: int = 0
    # what could not be read, and why; 'column=exact value' of clamped columns (migration 0009)
    problems: tuple[str, ...] | list[str] = field(default_factory=list)
    clamped: tuple[str, ...] | list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DaneVerdictRow:
    TABLE: ClassVar[str] = "dane_verdicts"
    scan_id: str
    mx_host: str
    ip: str  # '' for the verdict on the MX name as a whole
    valid: int
    reason: str  # DaneReason
    rfc_outcome: str  # RfcOutcome
    paper_valid: int
    tlsa_dnssec_status: str
    matched_usage: int  # -1 when nothing matched
    matched_selector: int
    matched_mtype: int
    matched_depth: int
    leaf_spki_sha256: str
    leaf_cert_sha256: str
    verified_at: Time
    attempt: int = 0
    addresses_cut: int = 0  # host row (ip ''): addresses past the bound, not probed (0012)


Row = (
    ScanRow
    | DomainRow
    | DnsRrsetRow
    | TlsaRecordRow
    | StarttlsProbeRow
    | CertificateRow
    | DaneVerdictRow
)
ROW_TYPES: tuple[type[Row], ...] = (
    ScanRow,
    DomainRow,
    DnsRrsetRow,
    TlsaRecordRow,
    StarttlsProbeRow,
    CertificateRow,
    DaneVerdictRow,
)
BY_TABLE: dict[str, type[Row]] = {t.TABLE: t for t in ROW_TYPES}


def row_fields(row_type: type[Row]) -> tuple[str, ...]:
    """Column names a row type provides, in declaration order."""
    return tuple(f.name for f in fields(row_type))
