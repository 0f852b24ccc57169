"""The lab's mail servers: one asyncio process listening on many loopback addresses.

    python -m lab.smtpd --config FILE --pidfile FILE [--stats FILE]

Each listener plays one ``Behaviour`` (see ``lab.smtpd_config``). It is a probe target, not an MTA:
it answers EHLO/HELO, STARTTLS, NOOP, RSET and QUIT, and 550 to any mail command.
Signals: SIGHUP reloads the configuration (new listeners bound, removed ones closed, certificates
re-read), SIGTERM/SIGINT exit cleanly, SIGUSR1 writes the per-address connection statistics to
``--stats`` (also written at exit). Prints ``ready`` once every listener is bound (after writing the
pidfile) and ``reloaded N`` after each reload. Exit status 2 with one line on stderr when an address
cannot be bound at start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import json
import os
import signal
import ssl
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lab.smtpd_config import Behaviour, ConfigError, ListenerConfig, SmtpdConfig, load_config
from lab.smtpd_tls import CertStore

IDLE_TIMEOUT = 120.0
MAX_LINE = 4096
HUGE_EHLO_BYTES = 100 * 1024
MAIL_VERBS = frozenset({"MAIL", "RCPT", "DATA", "BDAT", "VRFY", "EXPN", "ETRN", "TURN", "AUTH"})


@dataclass
class AddressStats:
    current: int = 0
    peak: int = 0
    total: int = 0


@dataclass
class Listener:
    config: ListenerConfig
    server: asyncio.Server | None = None


@dataclass
class Smtpd:
    config_path: Path
    stats_path: Path | None
    certs: CertStore = field(default_factory=CertStore)
    listeners: dict[tuple[str, int], Listener] = field(default_factory=dict)
    stats: dict[str, AddressStats] = field(default_factory=dict)
    everywhere: AddressStats = field(default_factory=AddressStats)  # all addresses together
    reload_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    # listeners

    async def bind(self, config: ListenerConfig) -> Listener:
        listener = Listener(config)

        async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self.session(listener, reader, writer)

        listener.server = await asyncio.start_server(
            session, config.ip, config.port, limit=MAX_LINE, reuse_address=True, backlog=256
        )
        self.listeners[config.address] = listener
        return listener

    async def start(self, config: SmtpdConfig) -> None:
        for listener in config.listeners:
            await self.bind(listener)

    async def reload(self) -> None:
        async with self.reload_lock:
            try:
                config = load_config(self.config_path)
            except ConfigError as exc:
                print(
                    f"smtpd: reload failed, keeping the old configuration: {exc}",
                    file=sys.stderr,
                    flush=True,
                )
                return
            self.certs.clear()
            wanted = {listener.address: listener for listener in config.listeners}
            for address in [a for a in self.listeners if a not in wanted]:
                server = self.listeners.pop(address).server
                if server is not None:
                    server.close()
            for address, listener_config in wanted.items():
                existing = self.listeners.get(address)
                if existing is not None:
                    existing.config = listener_config
                    continue
                try:
                    await self.bind(listener_config)
                except OSError as exc:
                    print(
                        f"smtpd: {_bind_error(listener_config, exc)}", file=sys.stderr, flush=True
                    )
            print(f"reloaded {len(self.listeners)}", flush=True)

    def close(self) -> None:
        for listener in self.listeners.values():
            if listener.server is not None:
                listener.server.close()

    def write_stats(self) -> None:
        if self.stats_path is None:
            return
        data = {
            "listeners": len(self.listeners),
            **self.certs.stats(),
            "all": asdict(self.everywhere),
            "addresses": {
                ip: {"current": s.current, "peak": s.peak, "total": s.total}
                for ip, s in self.stats.items()
            },
        }
        tmp = self.stats_path.with_name(self.stats_path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        tmp.replace(self.stats_path)

    # sessions

    async def session(
        self, listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        config = listener.config  # a reload during the session does not change it
        counters = (self.stats.setdefault(config.ip, AddressStats()), self.everywhere)
        for c in counters:
            c.current += 1
            c.total += 1
            c.peak = max(c.peak, c.current)
        try:
            await _Conversation(config, self.certs, reader, writer).run()
        except (OSError, ssl.SSLError, TimeoutError, asyncio.IncompleteReadError):
            pass  # the client went away or misbehaved: nothing to record for a lab server
        finally:
            for c in counters:
                c.current -= 1
            writer.close()


class _Conversation:
    def __init__(
        self,
        config: ListenerConfig,
        certs: CertStore,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.config = config
        self.certs = certs
        self.reader = reader
        self.writer = writer
        self.tls = False
        self.early = b""  # bytes a client sent during a tarpit's pause (read_command takes them)

    async def say(self, *lines: str) -> None:
        if self.config.behaviour is Behaviour.TARPIT:
            await self.pause()
        self.writer.write("".join(f"{line}\r\n" for line in lines).encode())
        await self.writer.drain()

    async def pause(self) -> None:
        """Wait ``delay_ms`` before a reply, watching the client: a client that leaves ends the
        session at once (so the connection counts are exact at any moment)."""
        try:
            async with asyncio.timeout(self.config.delay_ms / 1000.0):
                data = await self.reader.read(1)
        except TimeoutError:
            return
        if not data:
            raise ConnectionResetError("the client left during the pause")
        self.early += data

    async def drain_until_eof(self) -> None:
        async with asyncio.timeout(IDLE_TIMEOUT):
            while await self.reader.read(65536):
                pass

    async def read_command(self) -> str | None:
        """The next command line, or None at EOF or when the line is too long."""
        try:
            async with asyncio.timeout(IDLE_TIMEOUT):
                line = await self.reader.readline()
        except ValueError:  # longer than MAX_LINE
            await self.say("500 5.5.2 line too long")
            return None
        line, self.early = self.early + line, b""
        return line.decode("latin-1").rstrip("\r\n") if line else None

    def ehlo_lines(self) -> list[str]:
        name = self.config.hostname
        behaviour = self.config.behaviour
        lines = [name, "PIPELINING", "SIZE 10240000", "ENHANCEDSTATUSCODES"]
        if behaviour is Behaviour.HUGE_EHLO:
            pad = "X-PAD-" + "x" * 1000
            lines += [f"{pad}-{i}" for i in range(HUGE_EHLO_BYTES // len(pad) + 1)]
        if not self.tls and behaviour is not Behaviour.NO_STARTTLS:
            lines.append("STARTTLS")
        lines.append("8BITMIME")
        return [f"250-{line}" for line in lines[:-1]] + [f"250 {lines[-1]}"]

    async def run(self) -> None:
        config = self.config
        behaviour = config.behaviour
        if config.delay_ms and behaviour is not Behaviour.TARPIT:
            await asyncio.sleep(config.delay_ms / 1000.0)
        if behaviour is Behaviour.SILENT:
            await self.drain_until_eof()
            return
        if behaviour is Behaviour.GARBAGE_BANNER:
            self.writer.write(b"\x16\x03\x01\x00\xff garbage \xfe\xff no smtp here\r\n")
            await self.drain_until_eof()
            return
        refused = behaviour is Behaviour.BANNER_5XX
        if refused:
            await self.say(f"554 5.3.2 {config.hostname} no service here")
        else:
            await self.say(
                f"220-{config.hostname} ESMTP danescan lab", "220 probe target, not a mail server"
            )
        while (line := await self.read_command()) is not None:
            verb = line.split(" ", 1)[0].upper()
            if verb == "QUIT":
                await self.say("221 2.0.0 bye")
                return
            if refused:
                await self.say("503 5.5.1 no service here")
            elif verb == "EHLO":
                await self.say(*self.ehlo_lines())
            elif verb == "HELO":
                await self.say(f"250 {config.hostname}")
            elif verb in ("NOOP", "RSET"):
                await self.say("250 2.0.0 OK")
            elif verb == "STARTTLS":
                if not await self.starttls():
                    return
            elif verb in MAIL_VERBS:
                await self.say("550 5.7.1 probe target, not a mail server")
            else:
                await self.say("502 5.5.2 command not recognised")

    async def starttls(self) -> bool:
        """Answer STARTTLS; False when the session is over."""
        behaviour = self.config.behaviour
        if self.tls or behaviour is Behaviour.NO_STARTTLS:
            await self.say("502 5.5.1 STARTTLS not available")
            return True
        if behaviour is Behaviour.STARTTLS_454:
            await self.say("454 4.7.0 TLS not available due to temporary reason")
            return True
        await self.say("220 2.0.0 ready to start TLS")
        if behaviour is Behaviour.HANDSHAKE_FAIL:
            async with asyncio.timeout(IDLE_TIMEOUT):
                await self.reader.read(1)  # the ClientHello has begun: answer it with nonsense
            self.writer.write(b"this is not TLS\r\n")
            await self.writer.drain()
            return False
        async with asyncio.timeout(IDLE_TIMEOUT):
            await self.writer.start_tls(self.certs.context_for(self.config.certs))
        self.tls = True
        return True


def _bind_error(config: ListenerConfig, exc: OSError) -> str:
    reason = (
        "address already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
    )
    return f"cannot listen on {config.ip}:{config.port}: {reason}"


async def serve(config_path: Path, pidfile: Path | None, stats_path: Path | None) -> int:
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        print(f"smtpd: {exc}", file=sys.stderr, flush=True)
        return 2
    smtpd = Smtpd(config_path, stats_path)
    for listener_config in config.listeners:
        try:
            await smtpd.bind(listener_config)
        except OSError as exc:
            smtpd.close()
            print(f"smtpd: {_bind_error(listener_config, exc)}", file=sys.stderr, flush=True)
            return 2
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    reloads: set[asyncio.Task[None]] = set()

    def on_hup() -> None:
        task = loop.create_task(smtpd.reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, on_hup)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, smtpd.write_stats)
    if pidfile is not None:
        pidfile.write_text(f"{os.getpid()}\n")
    print("ready", flush=True)
    try:
        await stop.wait()
    finally:
        smtpd.close()
        smtpd.write_stats()
        if pidfile is not None:
            with contextlib.suppress(FileNotFoundError):
                pidfile.unlink()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lab.smtpd", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--pidfile", type=Path)
    parser.add_argument(
        "--stats", type=Path, help="where SIGUSR1 and exit write connection statistics"
    )
    args = parser.parse_args(argv)
    try:
        import uvloop
    except ImportError:
        return asyncio.run(serve(args.config, args.pidfile, args.stats))
    result: int = uvloop.run(serve(args.config, args.pidfile, args.stats))
    return result


if __name__ == "__main__":
    sys.exit(main())
