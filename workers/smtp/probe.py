"""One STARTTLS probe of one (MX host, IP, port): connect, banner, EHLO, STARTTLS, handshake, QUIT.

Every step is bounded in time and in memory; whatever step fails, the evidence gathered so far is
returned (errors are data). The chain is taken as presented and only checked for parsability here;
judging it is the DANE verdict's job.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from workers.dane.loading import load_der
from workers.smtp.channel import SmtpChannel
from workers.smtp.evidence import ProbeError, ProbeStep, StarttlsEvidence
from workers.smtp.replies import Reply, ReplyFault
from workers.smtp.settings import ProbeTimeouts, ReadLimits
from workers.smtp.tlscompat import client_context, unverified_chain
from workers.vocab import SmtpStatus

_FAULT_STATUS = {
    ProbeStep.BANNER: SmtpStatus.BANNER_GARBAGE,
    ProbeStep.EHLO: SmtpStatus.EHLO_FAILED,
    ProbeStep.STARTTLS: SmtpStatus.STARTTLS_REJECTED,
}


@dataclass
class _Trace:
    """The evidence while it is being gathered (private, mutable); frozen by ``finish``."""

    host: str
    ip: str
    port: int
    sni: str | None
    started_at: datetime
    step: ProbeStep = ProbeStep.CONNECT
    banner: tuple[str, ...] = ()
    ehlo: tuple[str, ...] = ()
    starttls_reply: tuple[str, ...] = ()
    tls_version: str = ""
    cipher: str = ""
    chain: tuple[bytes, ...] = ()
    chain_truncated: bool = False
    timings: list[tuple[ProbeStep, float]] = field(default_factory=list)
    said_goodbye: bool = False
    # the outcome decided before the QUIT: (status, error, detail, step)
    decided: tuple[SmtpStatus, ProbeError, str, ProbeStep] | None = None
    _mark: float = field(default_factory=time.perf_counter)
    _open: bool = False

    def begin(self, step: ProbeStep) -> None:
        self.step = step
        self._mark = time.perf_counter()
        self._open = True

    def end(self) -> None:
        self.timings.append((self.step, round((time.perf_counter() - self._mark) * 1000.0, 3)))
        self._open = False

    def end_open_step(self) -> None:
        """Time the step the probe's deadline interrupted."""
        if self._open:
            self.end()

    def conclude(self) -> StarttlsEvidence:
        """Finish with the outcome decided before the QUIT."""
        assert self.decided is not None
        status, error, detail, step = self.decided
        self.step = step
        return self.finish(status, error, detail)

    def finish(
        self, status: SmtpStatus, error: ProbeError = ProbeError.NONE, detail: str = ""
    ) -> StarttlsEvidence:
        return StarttlsEvidence(
            status=status,
            host=self.host,
            ip=self.ip,
            port=self.port,
            sni=self.sni,
            started_at=self.started_at,
            step=ProbeStep.DONE if status is SmtpStatus.OK else self.step,
            error=error,
            detail=detail,
            banner=self.banner,
            ehlo=self.ehlo,
            starttls_reply=self.starttls_reply,
            tls_version=self.tls_version,
            cipher=self.cipher,
            chain=self.chain,
            chain_truncated=self.chain_truncated,
            timings_ms=tuple(self.timings),
        )


def _fault(trace: _Trace, fault: ReplyFault) -> StarttlsEvidence:
    status = _FAULT_STATUS[trace.step]
    if trace.step is ProbeStep.BANNER and fault.error is ProbeError.TIMEOUT:
        status = SmtpStatus.BANNER_TIMEOUT
    return trace.finish(status, fault.error, fault.detail)


def _first_unparsable(chain: tuple[bytes, ...]) -> str:
    """A description of the first certificate ``cryptography`` cannot parse, or ""."""
    for depth, der in enumerate(chain):
        loaded = load_der(der)  # quietly: no library warning reaches the terminal
        if loaded.cert is None:
            return f"certificate at depth {depth} does not parse: {loaded.error}"
    return ""


async def _goodbye(
    channel: SmtpChannel,
    trace: _Trace,
    timeout: float,
    status: SmtpStatus,
    error: ProbeError = ProbeError.NONE,
    detail: str = "",
) -> StarttlsEvidence:
    """Say goodbye, wait briefly for the 221, then finish with the outcome decided before it.

    The QUIT changes neither status nor step; if the probe's deadline cuts it short, the outcome
    decided before it stands (``_Trace.conclude``).
    """
    trace.decided = (status, error, detail, trace.step)
    trace.begin(ProbeStep.QUIT)
    channel.send("QUIT")
    reply = await channel.read_reply(timeout)
    trace.end()
    trace.said_goodbye = isinstance(reply, Reply)
    return trace.conclude()


async def probe_starttls(
    host: str,
    ip: str,
    *,
    port: int = 25,
    ehlo_name: str,
    timeouts: ProbeTimeouts,
    sni: str | None = None,
    limits: ReadLimits | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> StarttlsEvidence:
    """Probe ``ip:port`` for the MX ``host``; SNI is ``sni`` or, by default, ``host``.

    Each step has its timeout and the whole probe ``timeouts.total``: past it the probe ends with
    ``SmtpStatus.PROBE_TIMEOUT`` at the step it was in (unless only the QUIT was left).
    Pass one ``ssl_context`` (``tlscompat.client_context()``) to many probes: building it is costly.
    """
    limits = limits or ReadLimits()
    ctx = ssl_context or client_context()
    server_name = sni or host
    trace = _Trace(host, ip, port, server_name, datetime.now(UTC))
    channel = SmtpChannel(limits)
    deadline = asyncio.timeout(timeouts.total)
    try:
        async with deadline:
            return await _session(channel, trace, timeouts, limits, ctx, ehlo_name)
    except TimeoutError:
        if not deadline.expired():
            raise
        trace.end_open_step()
        if trace.decided is not None:
            return trace.conclude()
        return trace.finish(
            SmtpStatus.PROBE_TIMEOUT,
            ProbeError.TIMEOUT,
            f"the probe took over its {timeouts.total:g} s deadline (at step {trace.step})",
        )
    finally:
        channel.close(abort=not trace.said_goodbye)


async def _session(
    channel: SmtpChannel,
    trace: _Trace,
    timeouts: ProbeTimeouts,
    limits: ReadLimits,
    ctx: ssl.SSLContext,
    ehlo_name: str,
) -> StarttlsEvidence:
    """The protocol steps of one probe (``probe_starttls`` bounds them as a whole)."""
    loop = asyncio.get_running_loop()
    trace.begin(ProbeStep.CONNECT)
    try:
        async with asyncio.timeout(timeouts.connect):
            await loop.create_connection(lambda: channel, trace.ip, trace.port)
    except ConnectionRefusedError as exc:
        trace.end()
        return trace.finish(SmtpStatus.CONNECT_REFUSED, ProbeError.REFUSED, str(exc))
    except TimeoutError:
        trace.end()
        return trace.finish(
            SmtpStatus.CONNECT_TIMEOUT,
            ProbeError.TIMEOUT,
            f"no connection within {timeouts.connect:g} s",
        )
    except OSError as exc:
        trace.end()
        return trace.finish(SmtpStatus.CONNECT_ERROR, ProbeError.OS_ERROR, str(exc))
    trace.end()

    trace.begin(ProbeStep.BANNER)
    banner = await channel.read_reply(timeouts.banner)
    trace.end()
    trace.banner = banner.lines
    if isinstance(banner, ReplyFault):
        return _fault(trace, banner)
    if banner.code != 220:
        return await _goodbye(
            channel,
            trace,
            timeouts.quit,
            SmtpStatus.BANNER_REJECTED,
            ProbeError.REPLY_CODE,
            f"greeting {banner.code}",
        )

    trace.begin(ProbeStep.EHLO)
    channel.send(f"EHLO {ehlo_name}")
    ehlo = await channel.read_reply(timeouts.ehlo)
    trace.end()
    trace.ehlo = ehlo.lines
    if isinstance(ehlo, ReplyFault):
        return _fault(trace, ehlo)
    if ehlo.code != 250:
        return await _goodbye(
            channel,
            trace,
            timeouts.quit,
            SmtpStatus.EHLO_FAILED,
            ProbeError.REPLY_CODE,
            f"EHLO answered {ehlo.code}",
        )

    if "STARTTLS" not in ehlo.keywords():
        trace.step = ProbeStep.STARTTLS
        return await _goodbye(
            channel,
            trace,
            timeouts.quit,
            SmtpStatus.NO_STARTTLS,
            ProbeError.NOT_ADVERTISED,
            "EHLO does not list STARTTLS",
        )

    trace.begin(ProbeStep.STARTTLS)
    channel.send("STARTTLS")
    reply = await channel.read_reply(timeouts.starttls)
    trace.end()
    trace.starttls_reply = reply.lines
    if isinstance(reply, ReplyFault):
        return _fault(trace, reply)
    if reply.code != 220:
        return await _goodbye(
            channel,
            trace,
            timeouts.quit,
            SmtpStatus.STARTTLS_REJECTED,
            ProbeError.REPLY_CODE,
            f"STARTTLS answered {reply.code}",
        )

    trace.begin(ProbeStep.HANDSHAKE)
    if channel.pending:
        trace.end()
        return trace.finish(
            SmtpStatus.HANDSHAKE_FAILED,
            ProbeError.DATA_BEFORE_TLS,
            f"{channel.pending} bytes after the 220 to STARTTLS, before the handshake",
        )
    try:
        tls = await channel.start_tls(ctx, trace.sni, timeouts.handshake)
    except TimeoutError:
        trace.end()
        return trace.finish(
            SmtpStatus.HANDSHAKE_TIMEOUT,
            ProbeError.TIMEOUT,
            f"no handshake within {timeouts.handshake:g} s",
        )
    except ssl.SSLError as exc:
        trace.end()
        return trace.finish(SmtpStatus.HANDSHAKE_FAILED, ProbeError.TLS_ERROR, str(exc))
    except (ConnectionError, OSError) as exc:
        trace.end()
        return trace.finish(
            SmtpStatus.HANDSHAKE_FAILED, ProbeError.CLOSED, str(exc) or type(exc).__name__
        )
    trace.end()
    sslobj = tls.get_extra_info("ssl_object")
    if isinstance(sslobj, ssl.SSLObject | ssl.SSLSocket):
        trace.tls_version = sslobj.version() or ""
        cipher = sslobj.cipher()
        trace.cipher = cipher[0] if cipher else ""
        presented = unverified_chain(sslobj)
        trace.chain = tuple(presented[: limits.max_chain_certs])
        trace.chain_truncated = len(presented) > limits.max_chain_certs

    if not trace.chain:
        return await _goodbye(
            channel,
            trace,
            timeouts.quit,
            SmtpStatus.HANDSHAKE_FAILED,
            ProbeError.NO_CERTIFICATE,
            "no certificate presented",
        )
    unparsable = _first_unparsable(trace.chain)
    if unparsable:
        return await _goodbye(
            channel,
            trace,
            timeouts.quit,
            SmtpStatus.CERT_UNPARSABLE,
            ProbeError.CERT_PARSE,
            unparsable,
        )
    return await _goodbye(channel, trace, timeouts.quit, SmtpStatus.OK)
