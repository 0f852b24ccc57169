"""Loading certificates with ``cryptography``: quietly, and never raising past this module.

Servers (and the Mozilla bundle) present certificates ``cryptography`` accepts only with a warning
(``CryptographyDeprecationWarning``: a serial number that is not positive; a coming release
refuses them) or refuses outright (an EC key on a curve it does not know, an unknown key
algorithm, a malformed field). None of that may reach the user's terminal or stop a scan:

* every load (and every field read that may parse lazily) runs inside :func:`caught`, which
  records ``cryptography``'s deprecation warnings as notes (``non-positive-serial``, ...) instead of
  printing them; other warnings are passed on unchanged. The filter is local to the block
  (``warnings.catch_warnings``), never global;
* what ``cryptography`` documents as raised for input it cannot read is :data:`CERT_ERRORS`;
  callers catch exactly that tuple.
"""

from __future__ import annotations

import base64
import binascii
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.utils import CryptographyDeprecationWarning

# What cryptography raises on a certificate (or a field of one) it cannot read: ValueError for
# malformed input (a future release: non-positive serials too), UnsupportedAlgorithm for a key it
# cannot load, and two x509 errors that are not ValueErrors (``Certificate.extensions``).
CERT_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    UnsupportedAlgorithm,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)

NON_POSITIVE_SERIAL = "non-positive-serial"  # cryptography: "a serial number which wasn't positive"

_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.S)


def describe(exc: BaseException) -> str:
    """One short line for an exception of :data:`CERT_ERRORS` (stored as the reason)."""
    text = " ".join(str(exc).split())[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _note(message: Warning | str) -> str:
    text = " ".join(str(message).split())
    if "serial number" in text:
        return NON_POSITIVE_SERIAL
    return f"deprecated: {text[:120]}"


@contextmanager
def caught(notes: list[str]) -> Iterator[None]:
    """Run a block with cryptography's deprecation warnings turned into ``notes`` (deduplicated,
    in order); any other warning raised in the block is re-issued as it was."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", CryptographyDeprecationWarning)
        yield
    for w in seen:
        if issubclass(w.category, CryptographyDeprecationWarning):
            note = _note(w.message)
            if note not in notes:
                notes.append(note)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)


@dataclass(frozen=True)
class Loaded:
    """One DER certificate as ``cryptography`` took it: the object, or why it refused; ``notes``
    are the quirks it accepted with a warning."""

    cert: x509.Certificate | None
    error: str = ""
    notes: tuple[str, ...] = ()


def load_der(der: bytes) -> Loaded:
    notes: list[str] = []
    try:
        with caught(notes):
            cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:  # what load_der_x509_certificate documents
        return Loaded(None, describe(exc), tuple(notes))
    return Loaded(cert, "", tuple(notes))


def pem_blocks(pem: bytes) -> Iterator[bytes | None]:
    """The DER of each ``CERTIFICATE`` block of a PEM bundle; None for a block that is not base64."""
    for m in _PEM.finditer(pem):
        try:
            yield base64.b64decode(b"".join(m.group(1).split()), validate=True)
        except binascii.Error:
            yield None
