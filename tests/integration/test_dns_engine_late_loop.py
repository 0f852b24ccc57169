"""Answers that reached the socket while the event loop was blocked are not TIMEOUTs.

An event loop reads a few datagrams per turn (asyncio one per readiness event, uvloop/libuv 32)
and runs the timers that are due in the same turn: after the loop was away (a blocking call on
it, or a starved thread) longer than a query attempt's timeout, the attempts' timers fired before
most of their answers, waiting in the socket buffer, were read, and those queries counted as
TIMEOUT though the resolver had answered at once (issue 13: MX lookup TIMEOUT rows in the
killed-worker cluster test while unbound answered within a second).
The resolver here is a plain UDP socket in a thread on loopback that answers every query at once.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator

import dns.message
import dns.rcode
import pytest

from workers.dns.engine import EngineSettings, QueryEngine
from workers.dns.records import Query
from workers.vocab import QueryStatus

uvloop = pytest.importorskip("uvloop")  # a dependency of the workers (pyproject.toml)


def _serve(sock: socket.socket, answer: bool, stop: threading.Event) -> None:
    sock.settimeout(0.05)
    while not stop.is_set():
        try:
            data, addr = sock.recvfrom(4096)
        except TimeoutError:
            continue
        except OSError:
            return
        if answer:
            r = dns.message.make_response(dns.message.from_wire(data))
            r.set_rcode(dns.rcode.NOERROR)
            sock.sendto(r.to_wire(), addr)


def _resolver(answer: bool) -> Iterator[int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    stop = threading.Event()
    thread = threading.Thread(target=_serve, args=(sock, answer, stop), daemon=True)
    thread.start()
    try:
        yield int(sock.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        sock.close()


@pytest.fixture
def answering() -> Iterator[int]:
    yield from _resolver(True)


@pytest.fixture
def silent() -> Iterator[int]:
    yield from _resolver(False)


LOOPS = {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


def _ask_with_blocked_loop(port: int, loop_kind: str, n: int, block: float
                           ) -> tuple[Counter[QueryStatus], int]:
    async def run() -> tuple[Counter[QueryStatus], int]:
        settings = EngineSettings(resolver=f"127.0.0.1:{port}", timeout=0.3, retries=0)
        async with QueryEngine(settings) as engine:
            futs = [engine.submit(Query(f"q{i}.blocked.example.", "MX")) for i in range(n)]
            # the queries are on the wire; the loop is then away for longer than their attempt,
            # and their answers wait in the socket buffer (a loop reads a few datagrams per turn,
            # then runs the timers that are due)
            asyncio.get_running_loop().call_soon(time.sleep, block)
            answers = await asyncio.gather(*futs)
            return Counter(a.record.status for a in answers), engine.late_timers + engine.drained

    loop = LOOPS[loop_kind]()
    try:
        return loop.run_until_complete(run())
    finally:
        loop.close()


@pytest.mark.parametrize("loop_kind", sorted(LOOPS))
def test_answers_read_late_because_the_loop_was_blocked_count(answering: int,
                                                              loop_kind: str) -> None:
    statuses, rescued = _ask_with_blocked_loop(answering, loop_kind, n=200, block=1.0)
    assert statuses == Counter({QueryStatus.NOERROR: 200})
    assert rescued >= 1  # answers read by an expiring attempt, or attempts given time back


def test_a_resolver_that_never_answers_still_times_out_with_a_blocked_loop(silent: int) -> None:
    statuses, rescued = _ask_with_blocked_loop(silent, "uvloop", n=5, block=1.0)
    assert statuses == Counter({QueryStatus.TIMEOUT: 5})
    assert rescued >= 1  # the late attempts were given time back, and still nothing came
