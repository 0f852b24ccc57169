"""The query engine: thousands of queries in flight from one process against one resolver.

Performance model: one connected UDP socket per engine, our own 16-bit id -> future table, query
wire built by hand (wire.py), a timer per attempt (``call_later``), no task per query. The only
dnspython parse is of the response, which the evidence needs anyway. TCP is used on truncation
only, one connection per truncated query. A leaky-bucket limiter spaces sends to ``rate`` queries
per second; ``max_in_flight`` bounds outstanding queries.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import time
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.rcode

from danescan.vocab import QueryStatus
from workers.dns import wire
from workers.dns.records import Answer, Query, QueryRecord


@dataclass(frozen=True)
class EngineSettings:
    resolver: str  # "address" or "address:port"
    timeout: float = 2.0  # first UDP attempt; later attempts multiply by backoff
    retries: int = 2  # UDP attempts after the first
    backoff: float = 2.0
    tcp_timeout: float = 5.0
    rate: float = 0.0  # queries per second over all sends; 0 = unlimited
    max_in_flight: int = 1000
    socket_buffer: int = 8 * 1024 * 1024  # receive buffer of the shared UDP socket

    @property
    def address(self) -> tuple[str, int]:
        host, sep, port = self.resolver.rpartition(":")
        if not sep or not host or "]" in port:
            return (self.resolver.strip("[]"), 53)
        return (host.strip("[]"), int(port))


_RCODES = {
    dns.rcode.NOERROR: QueryStatus.NOERROR,
    dns.rcode.NXDOMAIN: QueryStatus.NXDOMAIN,
    dns.rcode.SERVFAIL: QueryStatus.SERVFAIL,
    dns.rcode.REFUSED: QueryStatus.REFUSED,
    dns.rcode.FORMERR: QueryStatus.FORMERR,
}


def status_of(message: dns.message.Message) -> QueryStatus:
    return _RCODES.get(message.rcode(), QueryStatus.ERROR)


def answer_text(message: dns.message.Message) -> tuple[str, ...]:
    return tuple(rrset.to_text() for rrset in message.answer)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, engine: QueryEngine) -> None:
        self.engine = engine

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.engine._received(data)

    def error_received(self, exc: Exception) -> None:
        self.engine.socket_errors += 1


class QueryEngine:
    """Use as ``async with QueryEngine(settings) as engine: answer = await engine.query(q)``."""

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self._pending: dict[int, tuple[bytes, asyncio.Future[bytes]]] = {}
        self._transport: asyncio.DatagramTransport | None = None
        self._slots = asyncio.Semaphore(settings.max_in_flight)
        self._next_send = 0.0
        self._rng = random.Random()
        self.sent = 0
        self.socket_errors = 0
        self.late_or_foreign = 0

    async def __aenter__(self) -> QueryEngine:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self), remote_addr=self.settings.address
        )
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # a burst of thousands of DNSSEC-sized answers overflows the default ~200 KB buffer
            for opt in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
                if opt is None:
                    continue
                try:
                    sock.setsockopt(socket.SOL_SOCKET, opt, self.settings.socket_buffer)
                    break
                except OSError:
                    continue

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        for _, fut in self._pending.values():
            if not fut.done():
                fut.cancel()
        self._pending.clear()

    def _received(self, data: bytes) -> None:
        if len(data) < 12:
            self.late_or_foreign += 1
            return
        entry = self._pending.get(wire.response_id(data))
        if entry is None or not wire.answers_question(data, entry[0]):
            self.late_or_foreign += 1
            return
        del self._pending[wire.response_id(data)]
        if not entry[1].done():
            entry[1].set_result(data)

    async def _pace(self) -> None:
        rate = self.settings.rate
        if rate <= 0:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        slot = max(now, self._next_send)
        self._next_send = slot + 1.0 / rate
        if slot > now:
            await asyncio.sleep(slot - now)

    def _new_id(self) -> int:
        while True:
            qid = self._rng.getrandbits(16)
            if qid not in self._pending:
                return qid

    async def _udp_attempt(self, question: bytes, cd: bool, timeout: float) -> bytes | None:
        transport = self._transport
        if transport is None:
            raise RuntimeError("QueryEngine used before open()")
        loop = asyncio.get_running_loop()
        qid = self._new_id()
        fut: asyncio.Future[bytes] = loop.create_future()
        self._pending[qid] = (question, fut)
        timer = loop.call_later(timeout, _expire, fut)
        transport.sendto(wire.query_wire(qid, question, cd))
        self.sent += 1
        try:
            return await fut
        except _AttemptTimeout:
            return None
        finally:
            timer.cancel()
            if self._pending.get(qid, (b"", None))[1] is fut:
                del self._pending[qid]

    async def _tcp(self, question: bytes, cd: bool) -> bytes:
        host, port = self.settings.address
        qid = self._new_id()
        payload = wire.query_wire(qid, question, cd)
        self.sent += 1
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port), self.settings.tcp_timeout
        )
        try:
            writer.write(struct.pack("!H", len(payload)) + payload)
            head = await asyncio.wait_for(reader.readexactly(2), self.settings.tcp_timeout)
            data = await asyncio.wait_for(
                reader.readexactly(struct.unpack("!H", head)[0]), self.settings.tcp_timeout
            )
        finally:
            writer.close()
        if not wire.answers_question(data, question) or wire.response_id(data) != qid:
            raise ValueError("TCP response does not answer the question")
        return data

    async def query(self, q: Query) -> Answer:
        """Ask the resolver; never raises for DNS or network trouble: it is in the record."""
        s = self.settings
        resolver = f"{s.address[0]}:{s.address[1]}"
        try:
            question = wire.question_wire(q.qname, q.qtype)
        except (dns.exception.DNSException, ValueError) as exc:
            return Answer(_record(q, QueryStatus.ERROR, resolver, time.time(), 0.0, 0, "udp",
                                  error=f"bad question: {exc!r}"), None)
        async with self._slots:
            sent_at = time.time()
            start = time.perf_counter()
            attempts = 0
            data: bytes | None = None
            timeout = s.timeout
            for _ in range(s.retries + 1):
                await self._pace()
                attempts += 1
                try:
                    data = await self._udp_attempt(question, q.cd, timeout)
                except OSError as exc:
                    return Answer(_record(q, QueryStatus.ERROR, resolver, sent_at,
                                          time.perf_counter() - start, attempts, "udp",
                                          error=f"socket: {exc!r}"), None)
                if data is not None:
                    break
                timeout *= s.backoff
            if data is None:
                return Answer(_record(q, QueryStatus.TIMEOUT, resolver, sent_at,
                                      time.perf_counter() - start, attempts, "udp",
                                      error=f"no answer to {attempts} UDP attempts"), None)
            transport = "udp"
            if wire.is_truncated(data):
                await self._pace()
                attempts += 1
                transport = "tcp"
                try:
                    data = await self._tcp(question, q.cd)
                except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    return Answer(_record(q, QueryStatus.TRUNCATED, resolver, sent_at,
                                          time.perf_counter() - start, attempts, "tcp",
                                          error=f"TC over UDP, TCP failed: {exc!r}"), None)
            try:
                message = wire.parse(data)
            except (dns.exception.DNSException, ValueError) as exc:
                return Answer(_record(q, QueryStatus.ERROR, resolver, sent_at,
                                      time.perf_counter() - start, attempts, transport,
                                      error=f"unparsable response: {exc!r}"), None)
            duration = time.perf_counter() - start
        record = QueryRecord(
            status=status_of(message), qname=q.qname, qtype=q.qtype, cd=q.cd,
            ad=bool(message.flags & dns.flags.AD), resolver=resolver, sent_at=sent_at,
            duration=duration, attempts=attempts, transport=transport,
            answer=answer_text(message),
        )
        return Answer(record, message)


class _AttemptTimeout(Exception):
    """One UDP attempt got no answer in time (internal: becomes a retry or TIMEOUT)."""


def _expire(fut: asyncio.Future[bytes]) -> None:
    if not fut.done():
        fut.set_exception(_AttemptTimeout())


def _record(q: Query, status: QueryStatus, resolver: str, sent_at: float, duration: float,
            attempts: int, transport: str, error: str) -> QueryRecord:
    return QueryRecord(status=status, qname=q.qname, qtype=q.qtype, cd=q.cd, ad=False,
                       resolver=resolver, sent_at=sent_at, duration=duration,
                       attempts=attempts, transport=transport, error=error)
