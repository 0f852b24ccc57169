"""A resolver answer that arrives after its attempt timed out still answers the query.

A validating resolver behind a slow or lame name server answers late: unbound keeps resolving
and replies to the query it got first; a retry with a new id may never be answered (it is a
duplicate of work in progress, or dropped). The engine must take the late answer to an earlier
attempt instead of waiting for the last attempt to time out and calling the name TIMEOUT."""

from __future__ import annotations

import asyncio
import socket
from typing import cast

import dns.message
import dns.rcode
import pytest

from workers.dns.engine import EngineSettings, QueryEngine
from workers.dns.records import Query
from workers.vocab import QueryStatus


class _FirstOnlySlowResolver(asyncio.DatagramProtocol):
    """Answers the first query of each question after ``delay`` seconds; ignores retries."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.seen: set[str] = set()
        self.received = 0
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received += 1
        q = dns.message.from_wire(data)
        key = q.question[0].to_text()
        if key in self.seen:
            return
        self.seen.add(key)
        r = dns.message.make_response(q)
        r.set_rcode(dns.rcode.NOERROR)
        asyncio.get_running_loop().call_later(self.delay, self._reply, r.to_wire(), addr)

    def _reply(self, wire: bytes, addr: tuple[str, int]) -> None:
        if self.transport is not None:
            self.transport.sendto(wire, addr)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("delay", [0.35, 0.8])
def test_a_late_answer_to_an_earlier_attempt_counts(delay: float) -> None:
    async def run() -> tuple[QueryStatus, int, int, int]:
        port = _free_udp_port()
        loop = asyncio.get_running_loop()
        transport, proto = await loop.create_datagram_endpoint(
            lambda: _FirstOnlySlowResolver(delay), local_addr=("127.0.0.1", port))
        try:
            # attempts at 0, 0.2 and 0.6 s; the only answer comes for the first one
            settings = EngineSettings(resolver=f"127.0.0.1:{port}", timeout=0.2, retries=2,
                                      backoff=2.0)
            async with QueryEngine(settings) as engine:
                ans = await engine.query(Query("late.example.", "MX"))
                return (ans.record.status, ans.record.attempts, engine.late_answers,
                        proto.received)
        finally:
            transport.close()

    status, attempts, late, received = asyncio.run(run())
    assert status is QueryStatus.NOERROR
    assert late == 1 and attempts >= 2 and received == attempts
