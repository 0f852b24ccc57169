"""The watch's webhook POST against real loopback servers: it ends, whatever the server does."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from danescan.watch_cli import post

RESPONSE = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def _serve(behaviour: str, stop: threading.Event, listener: socket.socket) -> None:
    conn, _ = listener.accept()
    with conn:
        conn.settimeout(0.2)
        try:
            while conn.recv(65536):  # the request (read until the client goes quiet)
                pass
        except OSError:
            pass
        if behaviour == "ok":
            conn.sendall(RESPONSE)
            return
        for byte in RESPONSE:  # a slow server: one byte every 0.3 s (about 20 s in all)
            if stop.is_set():
                return
            try:
                conn.sendall(bytes([byte]))
            except OSError:
                return
            time.sleep(0.3)


@pytest.fixture(params=["ok", "trickle"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    stop = threading.Event()
    thread = threading.Thread(target=_serve, args=(request.param, stop, listener), daemon=True)
    thread.start()
    try:
        yield request.param, f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    finally:
        stop.set()
        listener.close()
        thread.join()


def test_post_has_a_deadline_for_the_whole_answer(server: tuple[str, str]) -> None:
    """Each byte of the trickling server arrives well within the per-read timeout, so only a
    deadline for the whole exchange ends the POST before the full answer (before the fix the
    trickle was waited out and taken as a 204)."""
    behaviour, url = server
    problem = post(url, {"event": "broken"}, timeout=2.0)
    if behaviour == "ok":
        assert problem is None
    else:
        assert problem is not None and "no answer within 2 s" in problem
