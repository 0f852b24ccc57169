"""DANE verdict for one MX host (RFC 6698, 7671, 7672): pure functions, no I/O.

Entry point: :func:`dane_verdict`. Modules: tlsa (records, usability, agility), certs (parsed
certificates with their digests), names (RFC 6125/7672 name checks), chain (DANE-TA and PKIX
paths), matching (one outcome per record), diagnose (mismatch reasons), verdict (the decision).
"""

from workers.dane.chain import TrustStore
from workers.dane.evidence import TlsaEvidence, TlsEvidence
from workers.dane.tlsa import RecordDefect, TlsaRecord
from workers.dane.verdict import Verdict, dane_verdict

__all__ = [
    "RecordDefect",
    "TlsEvidence",
    "TlsaEvidence",
    "TlsaRecord",
    "TrustStore",
    "Verdict",
    "dane_verdict",
]
