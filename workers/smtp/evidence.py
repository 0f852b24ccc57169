"""What one STARTTLS probe of one (MX host, IP, port) saw, kept whatever step failed.

The probe (``workers.smtp.probe``) fills it; the DANE verdict reads it. Nothing here does I/O.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from workers.vocab import SmtpStatus


class ProbeStep(StrEnum):
    """The protocol steps, in order (the ZGrab2 SMTP module's list, narrowed to STARTTLS)."""

    CONNECT = "connect"
    BANNER = "banner"
    EHLO = "ehlo"
    STARTTLS = "starttls"
    HANDSHAKE = "handshake"
    QUIT = "quit"
    DONE = "done"  # every step up to the handshake succeeded (QUIT is best effort)


class ProbeError(StrEnum):
    """Why the step in ``StarttlsEvidence.step`` failed. ``NONE`` when it did not."""

    NONE = ""
    REFUSED = "refused"
    TIMEOUT = "timeout"
    CLOSED = "closed"  # the server closed the connection (EOF or reset)
    OS_ERROR = "os-error"
    NOT_SMTP = "not-smtp"  # the bytes are not an SMTP reply
    LINE_TOO_LONG = "line-too-long"
    TOO_MANY_LINES = "too-many-lines"
    REPLY_TOO_LARGE = "reply-too-large"
    REPLY_CODE = "reply-code"  # a well-formed reply with a refusing code
    NOT_ADVERTISED = "not-advertised"  # EHLO did not list STARTTLS
    DATA_BEFORE_TLS = "data-before-tls"  # bytes after the 220 to STARTTLS, before the handshake
    TLS_ERROR = "tls-error"
    NO_CERTIFICATE = "no-certificate"
    CERT_PARSE = "cert-parse"
    INTERNAL = "internal"  # our bug
    EXCLUDED = "excluded"  # not connected: the address is on the exclusion list


@dataclass(frozen=True)
class ProbeTarget:
    """One (MX host, IP, port) to probe. ``sni`` defaults to the host name."""

    host: str
    ip: str
    port: int = 25
    sni: str | None = None


@dataclass(frozen=True)
class StarttlsEvidence:
    """The outcome of one probe. ``status`` first (ZDNS style), then provenance, then what was seen.

    ``step`` is the step reached: the one that failed, or ``DONE``. ``chain`` is the certificate chain
    exactly as presented, DER, leaf first, at most ``ReadLimits.max_chain_certs`` of it
    (``chain_truncated`` says when more was sent). ``timings_ms`` holds one entry per step attempted.
    Replies are the raw reply lines (code included), bounded by ``ReadLimits``. ``inferred_from``
    names the MX host whose probe of the same address decided this outcome without a connection of
    its own (``workers.smtp.outcomes``); then nothing was seen and ``timings_ms`` is empty.
    """

    status: SmtpStatus
    host: str
    ip: str
    port: int
    sni: str | None
    started_at: datetime
    step: ProbeStep
    error: ProbeError = ProbeError.NONE
    detail: str = ""
    banner: tuple[str, ...] = ()
    ehlo: tuple[str, ...] = ()
    starttls_reply: tuple[str, ...] = ()
    tls_version: str = ""
    cipher: str = ""
    chain: tuple[bytes, ...] = ()
    chain_truncated: bool = False
    timings_ms: tuple[tuple[ProbeStep, float], ...] = ()
    inferred_from: str = ""  # no connection: the outcome of this MX host's probe of the same address

    def __post_init__(self) -> None:
        if (self.status is SmtpStatus.OK) != (self.step is ProbeStep.DONE):
            raise ValueError(f"status {self.status} does not fit step {self.step}")
        if self.status is SmtpStatus.OK and not self.chain:
            raise ValueError("an ok probe has a certificate chain")
        if self.inferred_from and self.status is SmtpStatus.OK:
            raise ValueError("only a failure is inferred from another name's probe")
        if self.started_at.tzinfo is None:
            raise ValueError("started_at must be timezone-aware")

    def timing(self, step: ProbeStep) -> float | None:
        """Milliseconds spent in ``step``, or None if it was not attempted."""
        for name, ms in self.timings_ms:
            if name is step:
                return ms
        return None

    @property
    def total_ms(self) -> float:
        return sum(ms for _, ms in self.timings_ms)

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict; certificates as base64 DER."""
        return {
            "status": self.status.value,
            "host": self.host,
            "ip": self.ip,
            "port": self.port,
            "sni": self.sni,
            "started_at": self.started_at.isoformat(),
            "step": self.step.value,
            "error": self.error.value,
            "detail": self.detail,
            "banner": list(self.banner),
            "ehlo": list(self.ehlo),
            "starttls_reply": list(self.starttls_reply),
            "tls_version": self.tls_version,
            "cipher": self.cipher,
            "chain": [base64.b64encode(der).decode("ascii") for der in self.chain],
            "chain_truncated": self.chain_truncated,
            "timings_ms": {step.value: ms for step, ms in self.timings_ms},
            "inferred_from": self.inferred_from,
        }
