"""DNS faults at the lab's name-server addresses: one asyncio process, standard library only.

``python -m lab.dnsfault --config F --pidfile P``, config JSON::

    {"drop": [ip, ...],
     "slow": [{"ip": ip, "upstream": ip, "min": 1.0, "max": 3.0}, ...],
     "servfail": [ip, ...]}

* drop: port 53 UDP and TCP are bound and never answer (UDP read and discarded; TCP accepted and
  held without a reply, closed after HOLD seconds), so a resolver times out instead of getting an
  ICMP port unreachable (a lame delegation to a dead address).
* slow: each query (UDP or TCP) is relayed to upstream:53 and its answer sent back once a delay
  drawn uniformly from [min, max] seconds, counted from the query's arrival, has passed. The
  answer is the real server's (NSD or PowerDNS): the relay is a fault injector, not a server.
* servfail: each query is answered SERVFAIL (question echoed). Only for when no real server can
  be made to; the lab prefers PowerDNS answering SERVFAIL for a zone whose data it cannot read
  (lab.pdns.break_zones), or NSD for a zone whose file is missing.

unbound in front of these (Debian's 1.17.1, measured): its discard-timeout (1900 ms, from the
CVE-2024-33655 backport) drops the client's query with no reply at all once resolution takes
longer, so behind a slow (1-3 s) or lame server the client times out; with discard-timeout: 0 it
got the slow server's answer after 7.4 s (retries with backoff, each relayed late) and SERVFAIL
for an all-lame delegation after 17.3 s (a second name in it 12.0 s, then at once while the
server is marked down; infra-cache-max-rtt: 1000 made it 2.3 s, outbound-msg-retry: 1 0.8 s,
unknown-server-time-limit: 1128 42.9 s).

Measured: a slow address (1-3 s) relaying to PowerDNS under dnsperf with 2,000 queries in flight:
858 q/s, none lost, latency 1.00-3.06 s (average 2.0), 0.45 ms CPU a query, 27 MB.

SIGTERM/SIGINT: clean exit, the pid file removed. SIGHUP: ignored (the config is fixed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

HOLD = 30.0  # seconds a dropped TCP connection is held open
UPSTREAM_TIMEOUT = 10.0
PORT = 53


# --- the process -------------------------------------------------------------------------------


def servfail_reply(query: bytes) -> bytes | None:
    """SERVFAIL for ``query``: its id, opcode, RD and question, QR set; None if not a query."""
    if len(query) < 12:
        return None
    qid, flags, qd = struct.unpack(">HHH", query[:6])
    if flags & 0x8000:  # a response: ignore
        return None
    end = 12
    if qd >= 1:
        while end < len(query):
            n = query[end]
            if n == 0:
                end += 1
                break
            if n & 0xC0:
                return None
            end += 1 + n
        end += 4
        if end > len(query):
            return None
        qd = 1
    out_flags = 0x8000 | (flags & 0x7800) | (flags & 0x0100) | 2
    return struct.pack(">HHHHHH", qid, out_flags, qd, 0, 0, 0) + query[12:end]


class _Drop(asyncio.DatagramProtocol):
    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        pass


class _Servfail(asyncio.DatagramProtocol):
    transport: asyncio.DatagramTransport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        reply = servfail_reply(data)
        if reply is not None:
            self.transport.sendto(reply, addr)


class _Slow(asyncio.DatagramProtocol):
    transport: asyncio.DatagramTransport

    def __init__(self, upstream: str, lo: float, hi: float, tasks: set[asyncio.Task[None]]):
        self.upstream, self.lo, self.hi, self.tasks = upstream, lo, hi, tasks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        deadline = time.monotonic() + random.uniform(self.lo, self.hi)
        t = asyncio.get_running_loop().create_task(self._relay(data, addr, deadline))
        self.tasks.add(t)
        t.add_done_callback(self.tasks.discard)

    async def _relay(self, data: bytes, addr: tuple[str | Any, int], deadline: float) -> None:
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.setblocking(False)
            try:
                s.connect((self.upstream, PORT))
                await loop.sock_sendall(s, data)
                answer = await asyncio.wait_for(loop.sock_recv(s, 65535), UPSTREAM_TIMEOUT)
            except (OSError, TimeoutError):
                return
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))
        self.transport.sendto(answer, addr)


async def _read_msg(reader: asyncio.StreamReader) -> bytes | None:
    try:
        head = await reader.readexactly(2)
        return await reader.readexactly(struct.unpack(">H", head)[0])
    except (asyncio.IncompleteReadError, OSError):
        return None


def _tcp_drop() -> Any:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(TimeoutError, OSError):
            async with asyncio.timeout(HOLD):
                while await reader.read(4096):
                    pass
        writer.close()
    return handle


def _tcp_servfail() -> Any:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(TimeoutError, OSError):
            async with asyncio.timeout(HOLD):
                while (msg := await _read_msg(reader)) is not None:
                    reply = servfail_reply(msg)
                    if reply is None:
                        break
                    writer.write(struct.pack(">H", len(reply)) + reply)
                    await writer.drain()
        writer.close()
    return handle


def _tcp_slow(upstream: str, lo: float, hi: float) -> Any:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(TimeoutError, OSError):
            async with asyncio.timeout(HOLD):
                while (msg := await _read_msg(reader)) is not None:
                    deadline = time.monotonic() + random.uniform(lo, hi)
                    ur, uw = await asyncio.open_connection(upstream, PORT)
                    try:
                        uw.write(struct.pack(">H", len(msg)) + msg)
                        await uw.drain()
                        answer = await _read_msg(ur)
                    finally:
                        uw.close()
                    if answer is None:
                        break
                    await asyncio.sleep(max(0.0, deadline - time.monotonic()))
                    writer.write(struct.pack(">H", len(answer)) + answer)
                    await writer.drain()
        writer.close()
    return handle


def _check_ip(ip: Any) -> str:
    if not isinstance(ip, str) or not ip.startswith("127."):
        raise ValueError(f"not a loopback IPv4 address: {ip!r}")
    socket.inet_aton(ip)
    return ip


async def serve(config: dict[str, Any], pidfile: Path | None) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: None)
    tasks: set[asyncio.Task[None]] = set()
    transports: list[asyncio.BaseTransport] = []
    servers: list[asyncio.Server] = []

    async def bind(ip: str, udp: asyncio.DatagramProtocol, tcp: Any) -> None:
        t, _ = await loop.create_datagram_endpoint(lambda: udp, local_addr=(ip, PORT))
        transports.append(t)
        servers.append(await asyncio.start_server(tcp, ip, PORT, reuse_address=True,
                                                  backlog=512))

    for ip in config.get("drop", []):
        await bind(_check_ip(ip), _Drop(), _tcp_drop())
    for ip in config.get("servfail", []):
        await bind(_check_ip(ip), _Servfail(), _tcp_servfail())
    for s in config.get("slow", []):
        lo, hi = float(s["min"]), float(s["max"])
        if not 0 <= lo <= hi:
            raise ValueError(f"slow {s['ip']}: need 0 <= min <= max, got {lo}, {hi}")
        up = _check_ip(s["upstream"])
        await bind(_check_ip(s["ip"]), _Slow(up, lo, hi, tasks), _tcp_slow(up, lo, hi))
    if pidfile is not None:
        tmp = pidfile.with_suffix(".tmp")
        tmp.write_text(f"{os.getpid()}\n")
        tmp.replace(pidfile)
    print(f"dnsfault: {len(config.get('drop', []))} drop, {len(config.get('slow', []))} slow, "
          f"{len(config.get('servfail', []))} servfail addresses", flush=True)
    try:
        await stop.wait()
    finally:
        for t in transports:
            t.close()
        for srv_ in servers:
            srv_.close()
        for task in list(tasks):
            task.cancel()
        if pidfile is not None:
            pidfile.unlink(missing_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab.dnsfault", description=__doc__.split("\n")[0])
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--pidfile", type=Path)
    args = ap.parse_args(argv)
    try:
        config = json.loads(args.config.read_text())
        asyncio.run(serve(config, args.pidfile))
    except (OSError, ValueError, KeyError) as exc:
        print(f"dnsfault: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


# --- control (from the lab) --------------------------------------------------------------------


def write_config(path: Path, drop: Sequence[str] = (), slow: Sequence[dict[str, Any]] = (),
                 servfail: Sequence[str] = ()) -> Path:
    """Write the JSON config; slow entries are {"ip", "upstream", "min", "max"}."""
    for ip in [*drop, *servfail, *(s["ip"] for s in slow), *(s["upstream"] for s in slow)]:
        _check_ip(ip)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"drop": list(drop), "slow": [dict(s) for s in slow],
                                "servfail": list(servfail)}, indent=1))
    return path


def start(config: Path, pidfile: Path, log: Path, timeout: float = 30) -> int:
    """Start the fault process in its own session; wait for its pid file and, when there is a slow
    address, for an answer through it. Returns the pid."""
    from lab import servers as srv
    from lab.servers import LabError

    cfg = json.loads(config.read_text())
    pidfile.unlink(missing_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "lab.dnsfault", "--config", str(config),
                                 "--pidfile", str(pidfile)], stdout=out, stderr=out,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                cwd=str(Path(__file__).resolve().parent.parent))
    slow = cfg.get("slow", [])

    def ready() -> bool:
        if proc.poll() is not None:
            tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
            raise LabError(f"lab.dnsfault exited with {proc.returncode}: {tail}")
        if not pidfile.exists():
            return False
        if slow:
            s = slow[0]
            return srv.query_header(s["ip"], ".", "SOA", timeout=float(s["max"]) + 1) is not None
        return True

    try:
        srv._wait(ready, timeout, "lab.dnsfault", log)
    except BaseException:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        raise
    return proc.pid


if __name__ == "__main__":
    sys.exit(main())
