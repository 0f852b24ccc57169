"""The DNS probe: MX/NS/DS/DNSKEY per domain, A/AAAA/TLSA per distinct MX host, each RRset with
its DNSSEC status (what a validating resolver says) and reason (the project's own checks)."""

from workers.dns.engine import EngineSettings, QueryEngine
from workers.dns.probe import load_trust_anchor, probe_batch, probe_batch_sync
from workers.dns.records import (
    Answer,
    BatchResult,
    DomainEvidence,
    DomainInput,
    MxHostEvidence,
    Query,
    QueryRecord,
    RRsetEvidence,
    RrsigSummary,
)
from workers.names import BadName, normalize_name

__all__ = [
    "Answer",
    "BadName",
    "BatchResult",
    "DomainEvidence",
    "DomainInput",
    "EngineSettings",
    "MxHostEvidence",
    "Query",
    "QueryEngine",
    "QueryRecord",
    "RRsetEvidence",
    "RrsigSummary",
    "load_trust_anchor",
    "normalize_name",
    "probe_batch",
    "probe_batch_sync",
]
