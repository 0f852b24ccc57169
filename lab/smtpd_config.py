"""The configuration of ``lab.smtpd``: which addresses listen, how they misbehave, which certificates.

JSON::

    {"listeners": [{"ip": "127.25.0.10", "port": 25, "behaviour": "ok",
                    "hostname": "mx1.bighost.net", "delay_ms": 0,
                    "certs": {"mx1.bighost.net": {"chain": "pki/a.pem", "key": "pki/a.key"},
                              "*": {"chain": "pki/default.pem", "key": "pki/default.key"}}}]}

``chain`` is a PEM file, leaf first, presented exactly as written; ``key`` the leaf's private key.
Relative paths are taken from the configuration file's directory. ``"*"`` serves clients without SNI
and unknown names; a listener without ``"*"`` refuses such handshakes. Pure: parsing only.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class Behaviour(StrEnum):
    OK = "ok"
    NO_STARTTLS = "no-starttls"  # EHLO without STARTTLS; STARTTLS answered 502
    STARTTLS_454 = "starttls-454"  # STARTTLS advertised, answered 454
    HANDSHAKE_FAIL = "handshake-fail"  # 220 to STARTTLS, then non-TLS bytes and close
    BANNER_5XX = "banner-5xx"  # 554 greeting
    GARBAGE_BANNER = "garbage-banner"  # bytes that are no SMTP reply
    SILENT = "silent"  # accepts, never speaks
    HUGE_EHLO = "huge-ehlo"  # a 100 kB EHLO reply
    LONG_CHAIN = "long-chain"  # like ok; the configured chain file is long
    TARPIT = "tarpit"  # like ok, but waits delay_ms before every reply (banner, EHLO, 220, 221)


DEFAULT_NAME = "*"


class ConfigError(ValueError):
    """The configuration file cannot be used; the message says where."""


@dataclass(frozen=True)
class CertFiles:
    chain: Path
    key: Path


@dataclass(frozen=True)
class ListenerConfig:
    ip: str
    port: int
    behaviour: Behaviour
    hostname: str
    delay_ms: int
    certs: tuple[tuple[str, CertFiles], ...]  # (lower-case name, files), "*" for the default

    @property
    def address(self) -> tuple[str, int]:
        return (self.ip, self.port)

    def cert_map(self) -> dict[str, CertFiles]:
        return dict(self.certs)


@dataclass(frozen=True)
class SmtpdConfig:
    listeners: tuple[ListenerConfig, ...]


def _files(raw: object, base: Path, where: str) -> CertFiles:
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("chain"), str)
        or not isinstance(raw.get("key"), str)
    ):
        raise ConfigError(f"{where}: expected {{'chain': PATH, 'key': PATH}}")
    return CertFiles(base / raw["chain"], base / raw["key"])


def _listener(raw: object, base: Path, index: int) -> ListenerConfig:
    where = f"listeners[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected an object")
    ip = raw.get("ip")
    try:
        addr = ipaddress.ip_address(ip if isinstance(ip, str) else "")
    except ValueError:
        raise ConfigError(f"{where}: bad ip {ip!r}") from None
    if not addr.is_loopback:
        raise ConfigError(f"{where}: {ip} is not a loopback address; the lab stays on loopback")
    port = raw.get("port", 25)
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigError(f"{where}: bad port {port!r}")
    try:
        behaviour = Behaviour(raw.get("behaviour", "ok"))
    except ValueError:
        raise ConfigError(f"{where}: unknown behaviour {raw.get('behaviour')!r}") from None
    hostname = raw.get("hostname", "smtp.lab.invalid")
    delay = raw.get("delay_ms", 0)
    if not isinstance(hostname, str) or not isinstance(delay, int) or delay < 0:
        raise ConfigError(f"{where}: bad hostname or delay_ms")
    certs = raw.get("certs", {})
    if not isinstance(certs, dict):
        raise ConfigError(f"{where}.certs: expected an object")
    pairs = tuple(
        (name.lower(), _files(files, base, f"{where}.certs[{name!r}]"))
        for name, files in certs.items()
    )
    needs_tls = behaviour not in (
        Behaviour.NO_STARTTLS,
        Behaviour.BANNER_5XX,
        Behaviour.GARBAGE_BANNER,
        Behaviour.SILENT,
    )
    if needs_tls and not pairs:
        raise ConfigError(f"{where}: behaviour {behaviour} needs certs")
    return ListenerConfig(str(addr), port, behaviour, hostname, delay, pairs)


def parse_config(data: object, base: Path) -> SmtpdConfig:
    if not isinstance(data, dict) or not isinstance(data.get("listeners"), list):
        raise ConfigError("expected {'listeners': [...]}")
    listeners = tuple(_listener(raw, base, i) for i, raw in enumerate(data["listeners"]))
    seen: set[tuple[str, int]] = set()
    for listener in listeners:
        if listener.address in seen:
            raise ConfigError(f"{listener.ip}:{listener.port} is listed twice")
        seen.add(listener.address)
    return SmtpdConfig(listeners)


def load_config(path: Path) -> SmtpdConfig:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return parse_config(data, path.parent)
