"""Input text made safe to print: control characters and non-printables escaped, length bounded.

A zone file or domain list is untrusted: a line quoted in a message (a malformed-line example, a
name in an error) could carry terminal escape sequences (``ESC [ 2 J``), bidirectional overrides
or a megabyte of text. :func:`printable` shows such text the way ``repr`` would (``\\x1b``,
``\\u202e``, ``\\t``), keeps printable characters (non-ASCII letters included) as they are, and
cuts the result to a bounded length. Backslashes are left as written: zone files use them for
their own escapes (``\\065``, ``a\\.b``), which read better unchanged.
"""

from __future__ import annotations

from typing import Final

LIMIT: Final = 120  # characters of output, the cut marker included
CUT: Final = "..."
_SHORT: Final = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(ch: str) -> str:
    short = _SHORT.get(ch)
    if short is not None:
        return short
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, kept by surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: str | bytes, limit: int = LIMIT) -> str:
    """``text`` with every non-printable character escaped, at most ``limit`` characters long.

    Bytes are read as UTF-8, invalid bytes shown as ``\\xNN``. A text cut to fit ends with
    ``...``.
    """
    if isinstance(text, bytes):
        text = text[: 4 * limit].decode("utf-8", "surrogateescape")
    if len(text) <= limit and text.isprintable():
        return text
    out: list[str] = []
    size = 0
    keep = 0  # pieces that fit before the cut marker
    room = max(limit - len(CUT), 0)
    for ch in text:
        piece = ch if ch.isprintable() else _escape(ch)
        size += len(piece)
        if size > limit:
            return "".join(out[:keep]) + CUT
        out.append(piece)
        if size <= room:
            keep = len(out)
    return "".join(out)
