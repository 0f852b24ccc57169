"""The resolver check against real loopback sockets: a closed port is named as refused."""

from __future__ import annotations

import socket

import pytest

from workers.dns.resolver_check import ResolverCheckError, check_resolver


def _closed_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_a_closed_port_is_refused_not_silent() -> None:
    port = _closed_udp_port()
    with pytest.raises(ResolverCheckError) as err:
        check_resolver(f"127.0.0.1:{port}", timeout=5.0)
    msg = str(err.value)
    assert f"resolver 127.0.0.1:{port}" in msg and "connection refused" in msg
    assert "\n" not in msg


def test_a_silent_resolver_is_a_timeout() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # bound, never answers
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        with pytest.raises(ResolverCheckError) as err:
            check_resolver(f"127.0.0.1:{port}", timeout=0.2)
    assert "no answer within" in str(err.value)
