"""Pure SMTP reply parsing (RFC 5321 4.2), bounded: a reply spans reads and ends at ``NNN `` line."""

from __future__ import annotations

from dataclasses import dataclass

from workers.smtp.evidence import ProbeError
from workers.smtp.settings import ReadLimits


@dataclass(frozen=True)
class Reply:
    """One complete reply. ``lines`` are raw (code included, CR LF stripped), ``consumed`` its bytes."""

    code: int
    lines: tuple[str, ...]
    consumed: int

    def keywords(self) -> frozenset[str]:
        """EHLO keywords (RFC 5321 4.1.1.1): the first word of every line after the greeting."""
        words = set()
        for line in self.lines[1:]:
            text = line[4:].strip()
            if text:
                words.add(text.split()[0].upper())
        return frozenset(words)


@dataclass(frozen=True)
class ReplyFault:
    """The buffer can never become a valid reply."""

    error: ProbeError
    detail: str
    lines: tuple[str, ...] = ()  # the lines read before the fault, for the evidence


def _decode(raw: bytes | bytearray) -> str:
    return bytes(raw).decode("utf-8", errors="replace")


def _bad_prefix(line: bytes | bytearray) -> bool:
    """True if ``line`` (possibly incomplete) cannot start an SMTP reply line."""
    for i, byte in enumerate(line[:4]):
        if i == 0 and not 0x32 <= byte <= 0x35:  # 2..5
            return True
        if i in (1, 2) and not 0x30 <= byte <= 0x39:
            return True
        if i == 3 and byte not in b" -\r":
            return True
    return False


def scan_reply(buf: bytes | bytearray, limits: ReadLimits) -> Reply | ReplyFault | None:
    """Parse one reply at the start of ``buf``. None: incomplete, read more."""
    pos = 0
    code = -1
    lines: list[str] = []
    while True:
        end = buf.find(b"\n", pos)
        if end < 0:
            rest = buf[pos:]
            if _bad_prefix(rest):
                return ReplyFault(
                    ProbeError.NOT_SMTP, f"not a reply line: {_decode(rest[:80])!r}", tuple(lines)
                )
            if len(rest) > limits.max_line:
                return ReplyFault(
                    ProbeError.LINE_TOO_LONG,
                    f"line longer than {limits.max_line} bytes",
                    tuple(lines),
                )
            if len(buf) > limits.max_reply_bytes:
                return ReplyFault(
                    ProbeError.REPLY_TOO_LARGE,
                    f"reply larger than {limits.max_reply_bytes} bytes",
                    tuple(lines),
                )
            return None
        raw = buf[pos:end]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if len(raw) > limits.max_line:
            return ReplyFault(
                ProbeError.LINE_TOO_LONG, f"line longer than {limits.max_line} bytes", tuple(lines)
            )
        if len(raw) < 3 or _bad_prefix(raw) or (len(raw) > 3 and raw[3] not in b" -"):
            return ReplyFault(
                ProbeError.NOT_SMTP, f"not a reply line: {_decode(raw[:80])!r}", tuple(lines)
            )
        line_code = int(raw[:3])
        if code < 0:
            code = line_code
        elif line_code != code:
            return ReplyFault(
                ProbeError.NOT_SMTP, f"reply code changed from {code} to {line_code}", tuple(lines)
            )
        if end + 1 > limits.max_reply_bytes:
            return ReplyFault(
                ProbeError.REPLY_TOO_LARGE,
                f"reply larger than {limits.max_reply_bytes} bytes",
                tuple(lines),
            )
        lines.append(_decode(raw))
        pos = end + 1
        if len(raw) == 3 or raw[3] == 0x20:
            return Reply(code, tuple(lines), pos)
        if len(lines) >= limits.max_lines:
            return ReplyFault(
                ProbeError.TOO_MANY_LINES, f"more than {limits.max_lines} lines", tuple(lines)
            )
