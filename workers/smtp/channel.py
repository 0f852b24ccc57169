"""The socket side of a probe: an asyncio protocol that buffers (bounded) and yields SMTP replies.

One ``SmtpChannel`` serves the whole session; after STARTTLS the TLS transport feeds the same
protocol, so the reply reader does not change.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import cast

from workers.smtp.evidence import ProbeError
from workers.smtp.replies import Reply, ReplyFault, scan_reply
from workers.smtp.settings import ReadLimits


class SmtpChannel(asyncio.Protocol):
    def __init__(self, limits: ReadLimits) -> None:
        self._limits = limits
        self._buf = bytearray()
        self._hard_cap = limits.max_reply_bytes + limits.max_line + 1
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._paused = False
        # uvloop's transports do not subclass asyncio's ABCs: duck-typed, hence the casts
        self.transport: asyncio.Transport | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._buf += data
        # Past the cap the parser faults anyway; stop the server from filling memory meanwhile.
        if len(self._buf) > self._hard_cap and not self._paused and self.transport is not None:
            self.transport.pause_reading()
            self._paused = True
        self._wake()

    def eof_received(self) -> bool | None:
        self._closed = True
        self._wake()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _resume_if_room(self) -> None:
        if self._paused and len(self._buf) <= self._hard_cap and self.transport is not None:
            self.transport.resume_reading()
            self._paused = False

    # the session

    @property
    def pending(self) -> int:
        """Bytes received and not yet consumed as a reply."""
        return len(self._buf)

    def send(self, line: str) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(line.encode("ascii", errors="replace") + b"\r\n")

    async def read_reply(self, timeout: float) -> Reply | ReplyFault:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            parsed = scan_reply(self._buf, self._limits)
            if isinstance(parsed, Reply):
                del self._buf[: parsed.consumed]
                self._resume_if_room()
                return parsed
            if parsed is not None:
                return parsed
            if self._closed:
                return ReplyFault(ProbeError.CLOSED, "connection closed by the server")
            remaining = deadline - loop.time()
            if remaining <= 0:
                return ReplyFault(ProbeError.TIMEOUT, f"no complete reply within {timeout:g} s")
            self._waiter = loop.create_future()
            handle = loop.call_later(remaining, self._wake)
            try:
                await self._waiter
            finally:
                handle.cancel()
                self._waiter = None

    async def start_tls(
        self, ctx: ssl.SSLContext, server_hostname: str | None, timeout: float
    ) -> asyncio.Transport:
        transport = self.transport
        if transport is None:
            raise ConnectionError("no transport to upgrade")
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            tls = await loop.start_tls(
                transport,
                self,
                ctx,
                server_hostname=server_hostname,
                ssl_handshake_timeout=timeout,
            )
        if tls is None:
            raise ConnectionError("transport closed during the handshake")
        self.transport = tls
        return tls

    def close(self, *, abort: bool = False) -> None:
        transport = self.transport
        if transport is None:
            return
        if abort:
            transport.abort()
        else:
            transport.close()
