"""The client TLS context of the probe and the one call whose spelling differs across Pythons."""

from __future__ import annotations

import ssl


def client_context() -> ssl.SSLContext:
    """A context that completes handshakes with anything an MTA may offer and verifies nothing.

    The chain is judged later by the DANE verdict, so verification is off and old protocol versions
    and weak ciphers are allowed (opportunistic SMTP TLS accepts them too).
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    return ctx


def unverified_chain(sslobj: ssl.SSLObject | ssl.SSLSocket) -> list[bytes]:
    """The chain the peer presented, DER, leaf first, as sent (nothing verified or reordered).

    Python 3.13 has ``get_unverified_chain()`` returning DER bytes; 3.10-3.12 have it only on the
    private ``_sslobj``, returning ``_ssl.Certificate`` objects.
    """
    public = getattr(sslobj, "get_unverified_chain", None)
    if public is not None:
        certs = public()
        return [bytes(c) for c in certs] if certs else []
    inner = getattr(sslobj, "_sslobj", None)
    method = getattr(inner, "get_unverified_chain", None)
    if method is None:
        leaf = sslobj.getpeercert(binary_form=True)
        return [leaf] if leaf else []
    certs = method()
    if not certs:
        return []
    encoding: int = getattr(ssl, "_ssl").ENCODING_DER  # noqa: B009 (private module, no stubs)
    return [bytes(c.public_bytes(encoding)) for c in certs]
