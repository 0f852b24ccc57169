"""A truncated UDP answer (TC) is asked again over TCP (RFC 7766): the TCP answer is taken, and a
TCP server that accepts but never answers ends the query as TRUNCATED after the TCP timeout, not
never. A resolver on loopback, started here: UDP answers TC with no records, TCP the full answer."""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import cast

import dns.flags
import dns.message
import dns.rrset
import pytest

from workers.dns.engine import EngineSettings, QueryEngine
from workers.dns.records import Query
from workers.vocab import QueryStatus

MX = "10 mx.big.example."


class _TruncatingUdp(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        r = dns.message.make_response(dns.message.from_wire(data))
        r.flags |= dns.flags.TC
        self.transport.sendto(r.to_wire(), addr)


def _tcp_handler(answer: bool, held: list[asyncio.StreamWriter]):  # type: ignore[no-untyped-def]
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        size = struct.unpack("!H", await reader.readexactly(2))[0]
        q = dns.message.from_wire(await reader.readexactly(size))
        if not answer:
            held.append(writer)  # accepted, read, never answered
            return
        r = dns.message.make_response(q)
        r.answer.append(dns.rrset.from_text(q.question[0].name, 300, "IN", "MX", MX))
        wire = r.to_wire()
        writer.write(struct.pack("!H", len(wire)) + wire)
        await writer.drain()
        writer.close()
    return handle


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        t.bind(("127.0.0.1", 0))
        port = int(t.getsockname()[1])
        u.bind(("127.0.0.1", port))  # the same port free for both
        return port


@pytest.mark.parametrize("answer", [True, False])
def test_a_truncated_answer_is_asked_again_over_tcp(answer: bool) -> None:
    async def run() -> tuple[QueryStatus, str, str, list[str]]:
        port = _free_port()
        loop = asyncio.get_running_loop()
        held: list[asyncio.StreamWriter] = []
        udp, _ = await loop.create_datagram_endpoint(_TruncatingUdp,
                                                     local_addr=("127.0.0.1", port))
        tcp = await asyncio.start_server(_tcp_handler(answer, held), "127.0.0.1", port)
        try:
            settings = EngineSettings(resolver=f"127.0.0.1:{port}", timeout=1.0, retries=0,
                                      tcp_timeout=0.5)
            async with QueryEngine(settings) as engine:
                ans = await asyncio.wait_for(engine.query(Query("big.example.", "MX")), 10)
            msg = ans.message  # dnspython's parse of the response taken
            rdatas = [rr.to_text() for rr in msg.answer[0]] if msg is not None and msg.answer \
                else []
            return ans.record.status, ans.record.transport, ans.record.error, rdatas
        finally:
            for w in held:
                w.close()
            udp.close()
            tcp.close()
            await tcp.wait_closed()

    status, transport, error, rdatas = asyncio.run(run())
    if answer:
        assert (status, transport, rdatas) == (QueryStatus.NOERROR, "tcp", [MX])
    else:
        assert status is QueryStatus.TRUNCATED and transport == "tcp"
        assert "TCP failed" in error
