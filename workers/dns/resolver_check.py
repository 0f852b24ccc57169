"""Does the resolver validate DNSSEC? Asked once when a scan or a worker starts (issue 14).

A resolver that does not validate (Docker's embedded DNS, a home router, a forwarder that drops
the AD bit) answers every query as if nothing were signed: every domain comes out insecure and no
DANE is ever found, without any error. So before scanning, ask the resolver for a name known to be
signed (the root's SOA by default: signed on the Internet and in the lab) with the DO bit, and
refuse to start unless the answer carries the AD bit.

``judge`` is pure (a parsed response in, a problem or None out); ``ask`` does the I/O (UDP, TCP
when truncated); ``check_resolver`` joins them and raises :class:`ResolverCheckError` whose
message is one line naming the resolver.
"""

from __future__ import annotations

import os
import socket
import struct

from workers.dns import wire
from workers.dns.engine import EngineSettings

OVERRIDE = "DANESCAN_SKIP_RESOLVER_CHECK=1"
_RCODE_NAMES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP",
                5: "REFUSED"}
_T_SOA = 6


class ResolverCheckError(RuntimeError):
    """The resolver cannot be used for a scan; the message is one line and names it."""


def judge(resp: wire.Response, qname: str, qtype: int) -> str | None:
    """None when ``resp`` is a validated positive answer to (qname, qtype); else what is wrong."""
    if not resp.flags & 0x8000:
        return "sent a query, not a response"
    if resp.rcode != 0:
        name = _RCODE_NAMES.get(resp.rcode, f"rcode {resp.rcode}")
        hint = (" (a validating resolver whose trust anchor does not match, or one that cannot "
                "reach the name servers)" if resp.rcode == 2 else "")
        return f"answered {name}{hint}"
    asked = (qname.rstrip(".").lower() or ".", qtype)
    got = (resp.question[0].rstrip(".").lower() or ".", resp.question[1])
    if got != asked:
        return "answered another question"
    if not any(rr.rtype == qtype for rr in resp.answer):
        return "gave no answer records"
    if not resp.ad:
        return ("does not validate DNSSEC: its answer for a signed name lacks the AD bit, so "
                "every domain would look insecure")
    return None


def _address(resolver: str) -> tuple[str, int]:
    return EngineSettings(resolver).address


def ask(resolver: str, qname: str = ".", qtype: str = "SOA", timeout: float = 2.0,
        attempts: int = 3) -> wire.Response:
    """One query with EDNS0 and DO (UDP, retried; over TCP when truncated). OSError/TimeoutError
    when nothing usable came back."""
    host, port = _address(resolver)
    question = wire.question_wire(qname, qtype)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    last: Exception = TimeoutError(f"no answer within {timeout * attempts:g} s")
    for _ in range(attempts):
        qid = int.from_bytes(os.urandom(2), "big")
        query = wire.query_wire(qid, question, cd=False)
        # a connected socket: answers only from the resolver, and a closed port's ICMP "port
        # unreachable" comes back as ConnectionRefusedError at once instead of a timeout
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            try:
                sock.connect((host, port))
                sock.send(query)
                while True:
                    data = sock.recv(65535)
                    if len(data) >= 12 and wire.response_id(data) == qid:
                        break
            except TimeoutError:
                continue
            except ConnectionRefusedError:
                raise ConnectionRefusedError(f"{host} port {port}: connection refused "
                                             "(nothing listens there)") from None
            except OSError as exc:  # unreachable network, ...
                last = exc
                continue
        if wire.is_truncated(data):
            data = _ask_tcp(host, port, family, query, timeout * 2)
        return wire.parse_response(data)
    raise last


def _ask_tcp(host: str, port: int, family: int, query: bytes, timeout: float) -> bytes:
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect((host, port))
        sock.sendall(struct.pack("!H", len(query)) + query)
        head = _read(sock, 2)
        return _read(sock, struct.unpack("!H", head)[0])


def _read(sock: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError("connection closed mid-answer")
        out += chunk
    return out


def check_resolver(resolver: str, qname: str = ".", timeout: float = 2.0) -> None:
    """Raise :class:`ResolverCheckError` (one line naming the resolver) unless ``resolver``
    returns a DNSSEC-validated (AD) answer for ``qname`` SOA."""
    what = f"resolver {resolver}"
    try:
        resp = ask(resolver, qname, "SOA", timeout=timeout)
    except ValueError as exc:  # a bad address or name
        raise ResolverCheckError(f"{what}: cannot ask it: {exc}") from None
    except (OSError, wire.WireError) as exc:
        reason = str(exc) or type(exc).__name__
        raise ResolverCheckError(f"{what} did not answer a query for {qname} SOA: {reason} "
                                 f"(a validating resolver is needed; {OVERRIDE} skips this "
                                 f"check, for tests only)") from None
    problem = judge(resp, qname, _T_SOA)
    if problem:
        raise ResolverCheckError(f"{what} {problem} (asked {qname} SOA with DO; use a validating "
                                 f"resolver such as unbound; {OVERRIDE} skips this check, for "
                                 f"tests only)")
