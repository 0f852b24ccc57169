"""``danescan tlsa``: the TLSA records to publish for a certificate, a key or a live mail server.

    danescan tlsa --cert chain.pem --name mx.example.com
    _25._tcp.mx.example.com. 3600 IN TLSA 3 1 1 7e04...

Usage 3 designates the leaf, usage 2 its issuer (the next certificate of the chain file, or of
the chain the server presents). The records are those ``ldns-dane create`` and hash-slinger's
``tlsa --create`` print for the same input (tests/integration/test_tlsa_oracles.py).
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import click

from danescan.errors import fail
from workers.dane.publish import (
    Material,
    PublishError,
    chain_material,
    read_material,
    records_for,
    zone_line,
)
from workers.names import BadName, normalize_text, tlsa_text


def load_file(path: str, what: str) -> Material:
    """Certificates or a key from ``path``; one line and exit 2 when it holds neither."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        fail(f"{path}: cannot read ({exc.strerror or exc})")
    try:
        return read_material(data, what)
    except PublishError as exc:
        fail(f"{path}: {exc}")


def split_host(text: str, default_port: int = 25) -> tuple[str, int]:
    """``HOST``, ``HOST:PORT``, ``[V6]:PORT`` or a bare IPv6 address."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, ""
    if not port:
        return host, default_port
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"bad port {port!r}")
    return host, int(port)


def _addresses(host: str, port: int) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        fail(f"{host}: no address ({exc})")
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def probe_material(host: str, port: int, server_name: str, ehlo_name: str,
                   timeout: float = 30.0) -> Material:
    """The chain ``host`` presents after STARTTLS (the project's probe), SNI ``server_name``.
    The first address that completes a handshake is taken."""
    from workers.smtp import ProbeTimeouts, probe_starttls, run
    from workers.vocab import SmtpStatus

    problems = []
    for ip in _addresses(host, port):
        evidence = run(probe_starttls(server_name, ip, port=port, ehlo_name=ehlo_name,
                                      timeouts=ProbeTimeouts(total=timeout)))
        if evidence.status is SmtpStatus.OK:
            try:
                return chain_material(evidence.chain)
            except PublishError as exc:
                problems.append(f"{ip}: {exc}")
                continue
        problems.append(f"{ip} port {port}: {evidence.status.value}"
                        + (f" ({evidence.detail})" if evidence.detail else ""))
    fail(f"{host}: no certificate: " + "; ".join(problems))


def owner_name(name: str | None, host: str | None, port: int) -> str:
    """``_<port>._tcp.<name>.``: --name, else the host name given to --host."""
    if name is None and host is not None:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            name = host
    if name is None:
        fail("--name MXHOST is needed (the mail server's host name, the TLSA owner)")
    try:
        return tlsa_text(normalize_text(name), port)
    except BadName as exc:
        fail(f"--name {name!r}: {exc}")


@click.command("tlsa")
@click.option("--cert", "cert", metavar="FILE", help="Certificate or chain (PEM or DER), leaf first.")
@click.option("--key", "key", metavar="FILE", help="Private or public key (PEM or DER): selector 1.")
@click.option("--host", "host", metavar="HOST[:PORT]",
              help="Probe this mail server with STARTTLS (port 25 unless given).")
@click.option("--usage", type=int, default=3, show_default=True,
              help="3 (DANE-EE: the leaf) or 2 (DANE-TA: its issuer).")
@click.option("--selector", type=int, default=1, show_default=True,
              help="0 (whole certificate) or 1 (SubjectPublicKeyInfo).")
@click.option("--mtype", type=int, default=1, show_default=True,
              help="0 (full), 1 (SHA-256) or 2 (SHA-512).")
@click.option("--name", "name", metavar="MXHOST", help="The MX host name (owner of the records).")
@click.option("--port", type=int, default=25, show_default=True, help="Port of the TLSA owner.")
@click.option("--ttl", type=int, default=3600, show_default=True)
@click.option("--ehlo-name", default="danescan.invalid", show_default=True,
              help="EHLO name for --host.")
def tlsa(cert: str | None, key: str | None, host: str | None, usage: int, selector: int,
         mtype: int, name: str | None, port: int, ttl: int, ehlo_name: str) -> None:
    """Print the TLSA record to publish, in zone-file form."""
    given = [opt for opt, value in (("--cert", cert), ("--key", key), ("--host", host)) if value]
    if len(given) != 1:
        fail("give exactly one of --cert FILE, --key FILE, --host HOST[:PORT]"
              + (f" (got {' and '.join(given)})" if given else ""))
    if not 0 < port < 65536:
        fail(f"--port {port}: not a port")
    if not 0 <= ttl <= 2**31 - 1:
        fail(f"--ttl {ttl}: not a TTL")
    server = None
    if host is not None:
        try:
            server, connect_port = split_host(host)
        except ValueError as exc:
            fail(f"--host {host!r}: {exc}")
    owner = owner_name(name, server, port)
    if cert is not None:
        material = load_file(cert, "cert")
    elif key is not None:
        material = load_file(key, "key")
    else:
        assert server is not None
        material = probe_material(server, connect_port, owner.split(".", 2)[2].rstrip("."),
                                  ehlo_name)
    try:
        records = records_for(material, usage, (selector,), (mtype,))
    except PublishError as exc:
        fail(f"{cert or key or host}: {exc}")
    for record in records:
        click.echo(zone_line(owner, ttl, record))
