"""The SMTP STARTTLS probe: one session per (MX host, IP), and many of them under per-IP caps.

Performance model: one process runs one event loop (uvloop when available) with up to
``ProbeLimits.global_`` sessions in flight; a session costs one TCP connection, four or five round
trips and one TLS handshake with verification off, so CPU per session is the handshake's key
exchange plus Python's protocol glue. Add processes (Celery workers) to scale past one core.
"""

from workers.smtp.evidence import ProbeError, ProbeStep, ProbeTarget, StarttlsEvidence
from workers.smtp.loop import run
from workers.smtp.many import probe_many
from workers.smtp.probe import probe_starttls
from workers.smtp.settings import ProbeLimits, ProbeTimeouts, ReadLimits
from workers.smtp.tlscompat import client_context, unverified_chain

__all__ = [
    "ProbeError",
    "ProbeLimits",
    "ProbeStep",
    "ProbeTarget",
    "ProbeTimeouts",
    "ReadLimits",
    "StarttlsEvidence",
    "client_context",
    "probe_many",
    "probe_starttls",
    "run",
    "unverified_chain",
]
