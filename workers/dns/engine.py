"""The query engine: thousands of queries in flight from one process against one resolver.

Performance model: one connected UDP socket per engine, our own 16-bit id -> pending table, query
wire built by hand and responses parsed by hand (wire.py; no dnspython on this path), one timer
per attempt (``call_later``), no task and no coroutine per query: ``submit`` returns a future that
the socket's ``datagram_received`` callback resolves directly, retries are sent from the timer
callback; before an attempt is given up, every datagram waiting in the socket buffer is read
(``_drain``), and an attempt whose timer fired late (the loop was away) gets the lost time back,
so that a busy, starved or blocked loop never turns an answer into a TIMEOUT. TCP is used on
truncation only, one connection (and one task) per truncated query. A leaky-bucket limiter spaces
sends to ``rate`` queries per second; ``max_in_flight`` bounds outstanding queries (the rest wait
in a queue, in order).

Measured (benchmarks/bench_dns.py --lab, 10,000 lab domains, ~4.9 queries per domain, one unbound
thread, 2 shared cores): warm cache 1,170 domains/s at 700 us CPU per domain; with the collector
tuned (then gc.freeze + gen-0 threshold 50,000; the scan processes now set workers/gc_tuning.py's
thresholds, which ``--gc worker`` applies) 2,000 domains/s at 450 us. Cold
cache the resolver is the limit: 3,200 queries/s at 400 in flight, against 3,750-4,350 for dnsperf
on the same cold resolver; more than ~500 in flight overflows unbound's queue (timeouts,
retries). About a third of the remaining CPU is the garbage collector walking the batch's
evidence; most of the rest is the event loop's per-datagram cost and the hand parse.
"""

from __future__ import annotations

import asyncio
import collections
import os
import random
import socket
import struct
import time
from dataclasses import dataclass

import dns.exception

from workers.dns import wire
from workers.dns.records import Answer, Query, QueryRecord
from workers.vocab import QueryStatus

# an attempt's timer that fires this much after it was due found a loop that was away: the
# answers the socket holds are read before the attempt is given up
LATE_TIMER = 0.1


@dataclass(frozen=True)
class EngineSettings:
    resolver: str  # "address" or "address:port"
    timeout: float = 2.0  # first UDP attempt; later attempts multiply by backoff
    # UDP attempts after the first: 2 + 4 + 8 + 16 s = 30 s in all, as long as a validating
    # resolver takes behind a name server answering after 1-3 s (it backs off per timeout and
    # may need several queries to it: measured 5-20 s on the internet-shaped lab); an answer to
    # any attempt counts. With the streaming pipeline a slow domain holds no other one.
    retries: int = 3
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
    0: QueryStatus.NOERROR,
    3: QueryStatus.NXDOMAIN,
    2: QueryStatus.SERVFAIL,
    5: QueryStatus.REFUSED,
    1: QueryStatus.FORMERR,
}


def status_of(resp: wire.Response) -> QueryStatus:
    return _RCODES.get(resp.rcode, QueryStatus.ERROR)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, engine: QueryEngine) -> None:
        self.engine = engine

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.engine._received(data)

    def error_received(self, exc: Exception) -> None:
        self.engine.socket_errors += 1


class _Pending:
    """One query on its way: its future, attempts so far and the running attempt's timer."""

    __slots__ = (
        "attempts",
        "due",
        "extended",
        "fut",
        "q",
        "qid",
        "qids",
        "question",
        "sent_at",
        "start",
        "timeout",
        "timer",
    )

    def __init__(self, q: Query, question: bytes, fut: asyncio.Future[Answer],
                 timeout: float) -> None:
        self.q = q
        self.question = question
        self.fut = fut
        self.attempts = 0
        self.qids: list[int] = []  # every attempt's id: a late answer to any of them counts
        self.timeout = timeout
        self.sent_at = 0.0
        self.start = 0.0
        self.qid = -1
        self.timer: asyncio.TimerHandle | None = None
        self.due = 0.0  # loop time at which the running attempt is given up
        self.extended = 0.0  # seconds the running attempt was given back for a late loop


class QueryEngine:
    """``async with QueryEngine(settings) as engine: answer = await engine.query(q)``, or
    ``engine.submit(q)`` for a future without a coroutine."""

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self._pending: dict[int, _Pending] = {}
        self._waiting: collections.deque[_Pending] = collections.deque()  # not sent yet
        self._resend: collections.deque[_Pending] = collections.deque()  # retries held by pacing
        self._in_flight = 0
        self._transport: asyncio.DatagramTransport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next_send = 0.0
        self._pump_timer: asyncio.TimerHandle | None = None
        self._rng = random.Random()
        self._tasks: set[asyncio.Task[None]] = set()
        addr = settings.address
        self._resolver = f"{addr[0]}:{addr[1]}"
        self.sent = 0
        self.socket_errors = 0
        self.late_or_foreign = 0
        self.late_answers = 0  # answers to an earlier attempt of a query still pending
        self.late_timers = 0  # attempts given time back because the loop was late (_expire)
        self.drained = 0  # answers read from the socket buffer by an expiring attempt (_drain)
        self._reader: socket.socket | None = None

    async def __aenter__(self) -> QueryEngine:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
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
            # a second handle on the same socket, to read what waits in its buffer before an
            # attempt is given up (``_drain``): the loop reads only a few datagrams per turn
            try:
                self._reader = socket.socket(fileno=os.dup(sock.fileno()))
                self._reader.setblocking(False)
            except OSError:
                self._reader = None

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        if self._pump_timer is not None:
            self._pump_timer.cancel()
            self._pump_timer = None
        for p in [*self._pending.values(), *self._waiting, *self._resend]:
            if p.timer is not None:
                p.timer.cancel()
            if not p.fut.done():
                p.fut.cancel()
        for task in self._tasks:
            task.cancel()
        self._pending.clear()
        self._waiting.clear()
        self._resend.clear()
        self._in_flight = 0

    # ------------------------------------------------------------ public

    async def query(self, q: Query) -> Answer:
        """Ask the resolver; never raises for DNS or network trouble: it is in the record."""
        return await self.submit(q)

    def submit(self, q: Query) -> asyncio.Future[Answer]:
        """Queue ``q``; the future gets its :class:`Answer` (never an exception, but it is
        cancelled when the engine closes first)."""
        loop = self._loop
        if loop is None or self._transport is None:
            raise RuntimeError("QueryEngine used before open()")
        fut: asyncio.Future[Answer] = loop.create_future()
        try:
            question = wire.question_wire(q.qname, q.qtype)
        except (dns.exception.DNSException, ValueError) as exc:
            fut.set_result(Answer(_record(q, QueryStatus.ERROR, self._resolver, time.time(), 0.0,
                                          0, "udp", error=f"bad question: {exc!r}"), None))
            return fut
        p = _Pending(q, question, fut, self.settings.timeout)
        if self._in_flight < self.settings.max_in_flight and not self._waiting \
                and self.settings.rate <= 0:
            self._in_flight += 1
            self._send(p)
        else:
            self._waiting.append(p)
            self._pump()
        return fut

    # ------------------------------------------------------------ sending

    def _pump(self) -> None:
        """Send retries and waiting queries as far as the slots and the rate allow."""
        loop = self._loop
        if loop is None or self._transport is None:
            return
        rate = self.settings.rate
        limit = self.settings.max_in_flight
        while self._resend or (self._waiting and self._in_flight < limit):
            if rate > 0:
                now = loop.time()
                if self._next_send > now:
                    if self._pump_timer is None:
                        self._pump_timer = loop.call_at(self._next_send, self._paced)
                    return
                self._next_send = max(now, self._next_send) + 1.0 / rate
            if self._resend:
                self._send(self._resend.popleft())
            else:
                self._in_flight += 1
                self._send(self._waiting.popleft())

    def _paced(self) -> None:
        self._pump_timer = None
        self._pump()

    def _new_id(self) -> int:
        pending = self._pending
        qid = self._rng.getrandbits(16)
        while qid in pending:
            qid = self._rng.getrandbits(16)
        return qid

    def _send(self, p: _Pending) -> None:
        transport = self._transport
        loop = self._loop
        if transport is None or loop is None:
            return
        if p.fut.done():
            return  # answered (late, to an earlier attempt) while waiting to be sent again
        if p.attempts == 0:
            p.sent_at = time.time()
            p.start = time.perf_counter()
        qid = self._new_id()
        p.qid = qid
        p.qids.append(qid)
        p.attempts += 1
        self._pending[qid] = p
        p.due = loop.time() + p.timeout
        p.extended = 0.0
        p.timer = loop.call_at(p.due, self._expire, p, qid)
        self.sent += 1
        try:
            transport.sendto(wire.query_wire(qid, p.question, p.q.cd))
        except OSError as exc:
            self._pending.pop(qid, None)
            p.timer.cancel()
            self._fail(p, QueryStatus.ERROR, "udp", f"socket: {exc!r}")

    def _expire(self, p: _Pending, qid: int) -> None:
        if self._pending.get(qid) is not p or p.fut.done():
            return
        self._drain()  # answers the loop has not read yet (its own or others') come first
        if self._pending.get(qid) is not p or p.fut.done():
            return
        loop = self._loop
        if loop is not None:
            late = loop.time() - p.due
            if late > LATE_TIMER and p.extended < p.timeout:
                # The loop was away (blocked or starved) when the attempt was due: its answer
                # may be waiting unread in the socket (uvloop runs due timers before it polls),
                # so the attempt gets the lost time back (at most its own timeout) before it
                # counts as unanswered: a late loop must not turn an answer into a TIMEOUT.
                self.late_timers += 1
                grace = min(late, p.timeout - p.extended)
                p.extended += grace
                p.due = loop.time() + grace
                p.timer = loop.call_at(p.due, self._expire, p, qid)
                return
        # the attempt's id stays known: the resolver may still answer it (a slow or lame name
        # server behind it), and that answer is as good as one to the next attempt
        p.timer = None
        if p.attempts <= self.settings.retries:
            p.timeout *= self.settings.backoff
            self._resend.append(p)
            self._pump()
            return
        self._fail(p, QueryStatus.TIMEOUT, "udp", f"no answer to {p.attempts} UDP attempts")

    # ------------------------------------------------------------ receiving

    def _drain(self, limit: int = 100_000) -> None:
        """Every datagram waiting in the socket's buffer, handled now. A busy or blocked loop
        reads a few per turn (asyncio one, uvloop 32) and runs due timers in between: without
        this an answer that had arrived could count as no answer (TIMEOUT)."""
        reader = self._reader
        for _ in range(limit):
            if reader is None or self._reader is None:
                return
            try:
                data = reader.recv(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.socket_errors += 1
                return
            self.drained += 1
            self._received(data)

    def _received(self, data: bytes) -> None:
        if len(data) < 12:
            self.late_or_foreign += 1
            return
        qid = (data[0] << 8) | data[1]
        p = self._pending.get(qid)
        if p is None or p.fut.done() or not wire.answers_question(data, p.question):
            self.late_or_foreign += 1
            return
        if qid != p.qid:
            self.late_answers += 1
        self._forget(p)
        if p.timer is not None:
            p.timer.cancel()
            p.timer = None
        if data[2] & 0x02:  # TC: ask again over TCP
            task = asyncio.ensure_future(self._tcp_retry(p))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        self._finish(p, data, "udp")

    def _finish(self, p: _Pending, data: bytes, transport: str) -> None:
        try:
            resp = wire.parse_response(data)
        except wire.WireError as exc:
            self._fail(p, QueryStatus.ERROR, transport, f"unparsable response: {exc}")
            return
        q = p.q
        record = QueryRecord(
            status=_RCODES.get(resp.rcode, QueryStatus.ERROR), qname=q.qname, qtype=q.qtype,
            cd=q.cd, ad=bool(resp.flags & wire.FLAG_AD), resolver=self._resolver,
            sent_at=p.sent_at, duration=time.perf_counter() - p.start, attempts=p.attempts,
            transport=transport, response=data)
        self._done(p, Answer(record, resp))

    def _fail(self, p: _Pending, status: QueryStatus, transport: str, error: str) -> None:
        self._done(p, Answer(_record(p.q, status, self._resolver, p.sent_at,
                                     time.perf_counter() - p.start, p.attempts, transport,
                                     error=error), None))

    def _forget(self, p: _Pending) -> None:
        """Drop every attempt's id of ``p`` (answered or given up)."""
        for qid in p.qids:
            if self._pending.get(qid) is p:
                del self._pending[qid]

    def _done(self, p: _Pending, answer: Answer) -> None:
        self._forget(p)
        if p.timer is not None:
            p.timer.cancel()
            p.timer = None
        self._in_flight -= 1
        if not p.fut.done():
            p.fut.set_result(answer)
        if self._waiting:
            self._pump()

    async def _tcp_retry(self, p: _Pending) -> None:
        p.attempts += 1
        self.sent += 1
        try:
            data = await self._tcp(p.question, p.q.cd)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            self._fail(p, QueryStatus.TRUNCATED, "tcp", f"TC over UDP, TCP failed: {exc!r}")
            return
        self._finish(p, data, "tcp")

    async def _tcp(self, question: bytes, cd: bool) -> bytes:
        host, port = self.settings.address
        qid = self._rng.getrandbits(16)
        payload = wire.query_wire(qid, question, cd)
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can lose a cancellation
        async with asyncio.timeout(self.settings.tcp_timeout):
            reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(struct.pack("!H", len(payload)) + payload)
            async with asyncio.timeout(self.settings.tcp_timeout):
                head = await reader.readexactly(2)
            async with asyncio.timeout(self.settings.tcp_timeout):
                data = await reader.readexactly(struct.unpack("!H", head)[0])
        finally:
            writer.close()
        if not wire.answers_question(data, question) or wire.response_id(data) != qid:
            raise ValueError("TCP response does not answer the question")
        return data


def _record(q: Query, status: QueryStatus, resolver: str, sent_at: float, duration: float,
            attempts: int, transport: str, error: str) -> QueryRecord:
    return QueryRecord(status=status, qname=q.qname, qtype=q.qtype, cd=q.cd, ad=False,
                       resolver=resolver, sent_at=sent_at, duration=duration,
                       attempts=attempts, transport=transport, error=error)
