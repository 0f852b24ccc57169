"""An SMTP front that answers up to STARTTLS, then relays the connection to ``openssl s_server``.

For chains Python's ``ssl`` cannot serve: a certificate whose key algorithm OpenSSL does not know
leaves "EVP: decode error" on OpenSSL's error queue at every handshake, which a non-blocking
handshake in Python takes as fatal (``openssl s_server``, like an MTA that clears the queue,
serves the same chain without trouble). This process starts ``openssl s_server`` with the chain
on ``IP:BACKEND_PORT`` (``-rev``: what comes after the handshake is echoed reversed, so a client's
QUIT gets a quick non-SMTP answer), listens on ``IP:PORT``, greets, answers EHLO with STARTTLS,
and after its ``220`` to STARTTLS copies bytes both ways. Loopback addresses only; it prints
``ready`` when both listen and stops on SIGTERM.

    python -m lab.starttls_relay --ip 127.75.1.1 --cert leaf.pem --chain rest.pem --key leaf.key
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import signal
import subprocess
import sys
import time

MAX_LINE = 1024
IDLE = 30.0  # seconds a client may stay silent before the front closes


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError):
            writer.close()


class Front:
    def __init__(self, hostname: str, backend: tuple[str, int]) -> None:
        self.hostname = hostname
        self.backend = backend

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._converse(reader, writer)
        except (ConnectionError, OSError, TimeoutError, ValueError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(ConnectionError, OSError):
                writer.close()

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(f"220 {self.hostname} ESMTP danescan lab relay\r\n".encode())
        while True:
            line = await asyncio.wait_for(reader.readuntil(b"\n"), IDLE)
            if len(line) > MAX_LINE:
                return
            verb = line.decode("ascii", "replace").strip().split(" ", 1)[0].upper()
            if verb == "EHLO":
                writer.write(f"250-{self.hostname}\r\n250 STARTTLS\r\n".encode())
            elif verb == "HELO":
                writer.write(f"250 {self.hostname}\r\n".encode())
            elif verb == "QUIT":
                writer.write(b"221 2.0.0 bye\r\n")
                await writer.drain()
                return
            elif verb == "STARTTLS":
                b_reader, b_writer = await asyncio.open_connection(*self.backend)
                writer.write(b"220 2.0.0 ready to start TLS\r\n")
                await writer.drain()
                await asyncio.gather(_pipe(reader, b_writer), _pipe(b_reader, writer))
                return
            else:
                writer.write(b"502 5.5.2 not here\r\n")
            await writer.drain()


def _wait_listening(ip: str, port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"openssl s_server exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex((ip, port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"openssl s_server did not listen on {ip}:{port}")


async def serve(args: argparse.Namespace) -> None:
    backend = subprocess.Popen(
        ["openssl", "s_server", "-accept", f"{args.ip}:{args.backend_port}", "-cert", args.cert,
         "-key", args.key, *(["-cert_chain", args.chain] if args.chain else []),
         "-cipher", "DEFAULT:@SECLEVEL=0", "-rev", "-quiet"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_listening(args.ip, args.backend_port, backend, 20.0)
        front = Front(args.hostname, (args.ip, args.backend_port))
        server = await asyncio.start_server(front.session, args.ip, args.port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        print("ready", flush=True)
        async with server:
            await stop.wait()
    finally:
        backend.terminate()
        try:
            backend.wait(timeout=10)
        except subprocess.TimeoutExpired:
            backend.kill()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lab.starttls_relay")
    p.add_argument("--ip", required=True)
    p.add_argument("--port", type=int, default=25)
    p.add_argument("--backend-port", type=int, default=4433)
    p.add_argument("--hostname", default="relay.lab.invalid")
    p.add_argument("--cert", required=True, help="the leaf, PEM")
    p.add_argument("--chain", default="", help="the certificates sent after the leaf, PEM")
    p.add_argument("--key", required=True, help="the leaf's private key, PEM")
    args = p.parse_args(argv)
    try:
        if not ipaddress.ip_address(args.ip).is_loopback:
            print(f"starttls_relay: {args.ip} is not a loopback address", file=sys.stderr)
            return 2
    except ValueError:
        print(f"starttls_relay: bad address {args.ip!r}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(args))
    except (OSError, RuntimeError) as exc:
        print(f"starttls_relay: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
