"""Server-side TLS of ``lab.smtpd``: certificates chosen by SNI, contexts built lazily and cached.

One *base* context per distinct certificate map (listeners with the same map share it) carries no
certificate, only an SNI callback that switches the handshake to the context of the requested name
(or of ``"*"``). Per-file contexts are cached too, so thousands of names on one address cost one
context per distinct chain file actually asked for. Both caches are LRU-bounded and cleared on reload.
"""

from __future__ import annotations

import ssl
import sys
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from lab.smtpd_config import DEFAULT_NAME, CertFiles

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

CertMap = tuple[tuple[str, CertFiles], ...]


class _Lru(Generic[K, V]):
    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K, build: Callable[[K], V]) -> V:
        value = self._items.get(key)
        if value is None:
            value = build(key)
            self._items[key] = value
            if len(self._items) > self._size:
                self._items.popitem(last=False)
        else:
            self._items.move_to_end(key)
        return value

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


def _server_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


class CertStore:
    def __init__(self, max_contexts: int = 4096) -> None:
        self._leaf: _Lru[CertFiles, ssl.SSLContext] = _Lru(max_contexts)
        self._base: _Lru[CertMap, ssl.SSLContext] = _Lru(max_contexts)

    def clear(self) -> None:
        self._leaf.clear()
        self._base.clear()

    def stats(self) -> dict[str, int]:
        return {"cert_contexts": len(self._leaf), "base_contexts": len(self._base)}

    def _load(self, files: CertFiles) -> ssl.SSLContext:
        """The chain file exactly as written. OpenSSL's default security level refuses a chain
        with keys it rates too small or cannot rate (an unknown algorithm, a curve it has no
        strength for); hostile servers send such chains, so that chain is loaded at level 0.
        (A key of an algorithm OpenSSL cannot decode still fails here: each handshake leaves
        "EVP: decode error" on OpenSSL's error queue, which Python's non-blocking handshake reads
        as fatal; ``lab.starttls_relay`` puts ``openssl s_server`` behind STARTTLS for those.)"""
        ctx = _server_context()
        try:
            ctx.load_cert_chain(files.chain, files.key)
        except ssl.SSLError as exc:
            if "KEY_TOO_SMALL" not in str(exc).upper().replace(" ", "_"):
                raise
            ctx = _server_context()
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            ctx.load_cert_chain(files.chain, files.key)
        return ctx

    def context_for(self, certs: CertMap) -> ssl.SSLContext:
        """The context to start TLS with on a listener whose certificate map is ``certs``."""
        return self._base.get(certs, self._build_base)

    def _build_base(self, certs: CertMap) -> ssl.SSLContext:
        by_name = dict(certs)

        def on_sni(sslobj: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> int | None:
            files = by_name.get(name.lower().rstrip(".")) if name else None
            files = files or by_name.get(DEFAULT_NAME)
            if files is None:
                return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
            try:
                sslobj.context = self._leaf.get(files, self._load)
            except (OSError, ssl.SSLError) as exc:
                print(
                    f"smtpd: cannot load {files.chain} / {files.key}: {exc}",
                    file=sys.stderr,
                    flush=True,
                )
                return ssl.ALERT_DESCRIPTION_INTERNAL_ERROR
            return None

        ctx = _server_context()
        ctx.sni_callback = on_sni
        return ctx
