"""Input files as bytes, plain or gzip, read up to their damage and no further.

:class:`InputFile` opens a zone file or a domain list (gzip told by its magic bytes, not by its
name) and hands out the content. A damaged file never ends in a traceback, and what can be read
is never thrown away: every byte before the damage is handed out first, then the read that would
go past it raises :class:`InputDamaged`, which names the file, how far it was read and what was
wrong. The damage found:

* a gzip file cut short (the file ends inside the compressed stream);
* corrupt compressed data, a bad gzip header, a CRC-32 or length mismatch in a member's trailer
  (the data handed out before it may itself be wrong: zlib found the fault there), bytes after
  the last member that are not gzip data (zero padding is allowed, as gzip allows it);
* a read error of the device;
* NUL bytes and bytes that are not UTF-8: no zone file or domain list holds a raw NUL (it would
  be ``\\000``) or a byte sequence that is not text, but a copy with zeroed blocks or flipped bits
  does, and so does a file that is not text at all. Reading goes on over them (the parsers count
  the lines they spoil as malformed); the damage is raised at the end, by
  :meth:`InputFile.check` (or by the read after the end).

Other malformed lines (bad names, unknown types, ...) are not damage: the parsers count and skip
them.

Corrupt compressed data is found to the byte: the decompressor is copied before each slice of
input, and a slice that fails is decoded again, one byte at a time, from the copy, so that every
byte zlib could produce before the fault is handed out. Memory stays flat: at most one slice of
input and the size asked for of output.
"""

from __future__ import annotations

import io
import os
import re
import zlib
from typing import IO, Final

from producer.printable import printable

SLICE: Final = 64 * 1024  # compressed bytes given to zlib at a time
GZIP_MAGIC: Final = b"\x1f\x8b"
_ESCAPED: Final = re.compile("[\udc80-\udcff]")


class InputDamaged(Exception):
    """The input is damaged; everything before the damage was read.

    ``at``: where the damage was found, in bytes of the file as stored (compressed for gzip);
    ``size``: the file's size; ``content``: bytes of content handed out (decompressed);
    ``lines``: lines read before it (set by the parser that read them); ``stopped``: False when
    reading went on past it (NUL bytes).
    """

    def __init__(self, path: str, problem: str, *, at: int, size: int | None, content: int,
                 stopped: bool = True, lines: int | None = None) -> None:
        super().__init__(path, problem)
        self.path = path
        self.problem = problem
        self.at = at
        self.size = size
        self.content = content
        self.stopped = stopped
        self.lines = lines

    def where(self) -> str:
        of = f" of {self.size:,}" if self.size is not None else ""
        return f"byte {self.at:,}{of}"

    def read_so_far(self) -> str:
        lines = f" ({self.lines:,} lines)" if self.lines is not None else ""
        if not self.stopped:
            return f"read to the end, {self.content:,} bytes{lines}"
        if self.content == 0 and not self.lines:
            return "nothing could be read before it"
        return f"{self.content:,} bytes{lines} read before it"

    def __str__(self) -> str:
        at = f" at {self.where()}" if self.stopped else ""
        return (f"{printable(self.path)}: damaged input{at}: {self.problem}; "
                f"{self.read_so_far()}")


class _Fault(Exception):
    def __init__(self, problem: str, at: int) -> None:
        super().__init__(problem)
        self.problem = problem
        self.at = at


def _zlib_problem(exc: zlib.error) -> str:
    text = str(exc).split(": ", 1)[-1]
    if text == "incorrect data check":
        return "CRC-32 mismatch in the gzip trailer (the data is not what was compressed)"
    if text == "incorrect length check":
        return "length mismatch in the gzip trailer (the data is not what was compressed)"
    if "header" in text or "compression method" in text:
        return f"bad gzip header ({text})"
    return f"corrupt compressed data ({text})"


class _Gunzip:
    """gzip members one after another, to the first damage (raised as :class:`_Fault`)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.at = 0  # compressed bytes decoded
        self.d = zlib.decompressobj(31)
        self.pending = b""  # compressed bytes read from the file; pending[self.off:] not decoded
        self.off = 0
        self.raw_eof = False
        self.step = SLICE
        self.careful_until = 0  # byte by byte up to here (a slice that failed)
        self.done = False
        self.fault: _Fault | None = None

    def _left(self) -> int:
        return len(self.pending) - self.off

    def _fill(self) -> None:
        if not self.raw_eof and self._left() < SLICE:
            try:
                more = self.raw.read(SLICE)
            except OSError as exc:
                raise _Fault(f"read error ({exc.strerror or exc})", self.at + self._left()
                             ) from exc
            if more:
                self.pending = self.pending[self.off :] + more if self._left() else more
                self.off = 0
            else:
                self.raw_eof = True

    def _next_member(self) -> None:
        """After a member's end: zero padding, another member, the end, or trailing garbage."""
        while True:
            stripped = self.pending[self.off :].lstrip(b"\0")
            self.at += self._left() - len(stripped)
            self.pending, self.off = stripped, 0
            if len(self.pending) >= 2 or self.raw_eof:
                break
            self._fill()
            if not self.pending and self.raw_eof:
                break
        if not self.pending:
            self.done = True
            return
        if self.pending[:2] != GZIP_MAGIC:
            raise _Fault("data that is not gzip after the end of the compressed stream", self.at)
        self.d = zlib.decompressobj(31)

    def read(self, size: int) -> list[bytes]:
        """Up to ``size`` bytes of content, in pieces; at the damage, what came before it (the
        damage is then in ``fault`` and ``done`` is set)."""
        out: list[bytes] = []
        n = 0
        try:
            while n < size and not self.done:
                if self.d.eof:
                    self._next_member()
                    continue
                self._fill()
                piece = self.pending[self.off : self.off + self.step]
                saved = self.d.copy() if self.step > 1 else None
                try:
                    data = self.d.decompress(piece, size - n)
                except zlib.error as exc:
                    if saved is not None:  # again, byte by byte, to hand out all before it
                        self.d = saved
                        self.step = 1
                        self.careful_until = self.at + len(piece)
                        continue
                    raise _Fault(_zlib_problem(exc), self.at) from exc
                used = len(piece) - len(self.d.unconsumed_tail) - len(self.d.unused_data)
                self.at += used
                self.off += used
                if self.step == 1 and self.at >= self.careful_until:
                    self.step = SLICE
                if data:
                    out.append(data)
                    n += len(data)
                elif not used and not self.d.eof and not self._left() and self.raw_eof:
                    raise _Fault("the compressed data ends early (the file is cut short)",
                                 self.at)
        except _Fault as fault:
            self.fault = fault
            self.done = True
        return out


class _TextCheck:
    """NUL bytes and bytes that are not UTF-8 in the content, counted with the first offset.
    ASCII blocks (all of a zone file, as a rule) cost one ``isascii`` and one ``memchr``."""

    def __init__(self) -> None:
        self.nul = 0
        self.nul_first = -1
        self.bad = 0  # bytes that are not UTF-8
        self.bad_first = -1
        self.tail = b""  # a UTF-8 sequence cut by the end of the last block

    def look(self, data: bytes, offset: int) -> None:
        if b"\0" in data:
            if self.nul_first < 0:
                self.nul_first = offset + data.index(b"\0")
            self.nul += data.count(b"\0")
        if not self.tail and data.isascii():
            return
        buf = self.tail + data if self.tail else data
        start = offset - len(self.tail)
        cut = len(buf)
        for k in range(1, min(4, len(buf)) + 1):
            b = buf[-k]
            if b & 0xC0 == 0x80:
                continue  # a continuation byte: look further back for its lead
            if b >= 0xC0 and (2 if b < 0xE0 else 3 if b < 0xF0 else 4) > k:
                cut = len(buf) - k  # an incomplete sequence: decided with the next block
            break
        self.tail = buf[cut:]
        self._bad_bytes(buf[:cut], start)

    def _bad_bytes(self, buf: bytes, start: int) -> None:
        try:
            buf.decode("utf-8")
        except UnicodeDecodeError as exc:
            if self.bad_first < 0:
                self.bad_first = start + exc.start
            text = buf.decode("utf-8", "surrogateescape")
            self.bad += len(_ESCAPED.findall(text))

    def end(self, offset: int) -> None:
        if self.tail:
            self._bad_bytes(self.tail + b"\xff", offset - len(self.tail))
            self.bad -= 1  # the marker byte
            self.tail = b""

    def odd(self) -> bool:
        return bool(self.nul or self.bad)

    def first(self) -> int:
        return min(x for x in (self.nul_first, self.bad_first) if x >= 0)

    def problem(self) -> str:
        parts = []
        if self.nul:
            parts.append(f"{self.nul:,} NUL byte(s), the first at content byte {self.nul_first:,}")
        if self.bad:
            parts.append(f"{self.bad:,} byte(s) that are not UTF-8, the first at content byte "
                         f"{self.bad_first:,}")
        return "; ".join(parts) + " (a damaged copy, or not a text file)"


class InputFile(io.RawIOBase):
    """A zone file or domain list, plain or gzip, read as bytes; see the module doc.

    ``read`` hands out content until the damage, raises :class:`InputDamaged` on the next read,
    and returns ``b""`` at the end; :meth:`check` raises the damage found when reading went on
    over it (NUL bytes). A raw stream: wrap it in ``io.BufferedReader`` for lines.
    """

    def __init__(self, path: str | os.PathLike[str], stream: IO[bytes] | None = None) -> None:
        super().__init__()
        self.path = os.fspath(path)
        self._raw: IO[bytes] = stream if stream is not None else open(self.path, "rb")  # noqa: SIM115
        self._own = stream is None
        try:
            self.size: int | None = os.fstat(self._raw.fileno()).st_size
        except (OSError, AttributeError, io.UnsupportedOperation):
            self.size = None
        head = self._peek()
        self.gzip = head[:2] == GZIP_MAGIC
        self._gz = _Gunzip(self._raw) if self.gzip else None
        self.content = 0  # bytes of content handed out
        self._ended = False
        self._damage: InputDamaged | None = None
        self._text = _TextCheck()

    def _peek(self) -> bytes:
        peek = getattr(self._raw, "peek", None)
        if peek is not None:
            return bytes(peek(2)[:2])
        return b""

    # -- io.RawIOBase --

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        n = len(data)
        memoryview(buffer).cast("B")[:n] = data
        return n

    def close(self) -> None:
        if not self.closed and self._own:
            self._raw.close()
        super().close()

    # -- reading --

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes of content (``b""`` at the end); see the class doc."""
        if self._damage is not None and (self._damage.stopped or self._ended):
            raise self._damage
        if size is None or size < 0:
            size = 1 << 62
        if self._gz is not None:
            pieces = self._gz.read(size)
            data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
            fault = self._gz.fault
            if not data and fault is not None:
                self._damage = self._damaged(fault.problem, fault.at, True)
                raise self._damage
        else:
            try:
                data = self._raw.read(min(size, 1 << 30))
            except OSError as exc:
                self._damage = self._damaged(f"read error ({exc.strerror or exc})", self.content,
                                             True)
                raise self._damage from exc
        if data:
            self._text.look(data, self.content)
        self.content += len(data)
        if not data:
            self._ended = True
            self._text.end(self.content)
            if self._text.odd():
                self._damage = self._damaged(self._text.problem(), self._text.first(), False)
        return data

    def _damaged(self, problem: str, at: int, stopped: bool) -> InputDamaged:
        if stopped and self._text.odd():
            problem += f"; before it, {self._text.problem()}"
        return InputDamaged(self.path, problem, at=at, size=self.size, content=self.content,
                            stopped=stopped)

    @property
    def damage(self) -> InputDamaged | None:
        """The damage found so far (complete only after the end was read)."""
        return self._damage

    def check(self) -> None:
        """Raise the damage found, if any (call after reading to the end)."""
        if self._damage is not None:
            raise self._damage
