"""Damaged input files, as they come: gzip cut short, corrupt, with a bad CRC, with garbage after
the end; plain files with NUL bytes or bytes that are not UTF-8. Everything before the damage is
handed out, then one exception names the file, how far it was read and what was wrong."""

from __future__ import annotations

import gzip
import io
import random
import zlib
from pathlib import Path

import pytest

from producer.domains import InputFormat, detect_format, read_domains
from producer.inputfile import InputDamaged, InputFile
from producer.zonefile import Delegation

DATA = b"".join(b"d%d NS ns1.h%d.net.\n" % (i, i % 97) for i in range(200_000))
GZ = gzip.compress(DATA)
MID = len(GZ) // 2


def read_file(path: Path, size: int = 1 << 20) -> tuple[bytes, InputDamaged | None]:
    got = bytearray()
    f = InputFile(path)
    try:
        while chunk := f.read(size):
            got += chunk
        f.check()
    except InputDamaged as damage:
        return bytes(got), damage
    finally:
        f.close()
    return bytes(got), None


def write(tmp_path: Path, blob: bytes, name: str = "com.zone.gz") -> Path:
    path = tmp_path / name
    path.write_bytes(blob)
    return path


def decodable(prefix: bytes) -> int:
    """Bytes zlib gives for an intact prefix of a gzip stream: all of them must be handed out."""
    return len(zlib.decompressobj(31).decompress(prefix))


def test_intact_files_plain_gzip_members_and_padding(tmp_path: Path) -> None:
    for blob in (DATA, GZ, GZ + GZ, GZ + b"\0" * 100):
        got, damage = read_file(write(tmp_path, blob))
        assert damage is None
        assert got == (DATA + DATA if blob == GZ + GZ else DATA)
    got, damage = read_file(write(tmp_path, GZ), size=777)  # odd read sizes
    assert got == DATA and damage is None


def test_gzip_cut_in_the_middle(tmp_path: Path) -> None:
    path = write(tmp_path, GZ[:MID])
    got, damage = read_file(path)
    assert damage is not None and damage.stopped
    assert DATA.startswith(got) and len(got) >= decodable(GZ[:MID])
    assert damage.at == damage.size == MID and damage.content == len(got)
    text = str(damage)
    assert text.startswith(f"{path}: damaged input at byte {MID:,} of {MID:,}: ")
    assert "cut short" in text and f"{len(got):,} bytes read before it" in text
    assert "\n" not in text


def test_corrupt_deflate_data_everything_before_it_is_handed_out(tmp_path: Path) -> None:
    """Random bytes over the middle of the stream: zlib stops at an invalid code somewhere after
    them; every byte decoded from the intact part comes out (gzip.GzipFile loses the block it was
    reading, up to a megabyte)."""
    errors = 0
    for seed in range(12):
        junk = random.Random(seed).randbytes(512)
        blob = GZ[:MID] + junk + GZ[MID + len(junk) :]
        got, damage = read_file(write(tmp_path, blob))
        assert damage is not None and damage.stopped
        good = decodable(GZ[:MID])
        assert got[:good] == DATA[:good] and len(got) >= good
        if damage.problem.startswith("corrupt compressed data ("):
            errors += 1
            assert MID <= damage.at < len(blob)
        else:  # the junk decoded as valid deflate: only the trailer's CRC tells
            assert damage.problem.startswith("CRC-32 mismatch")
    assert errors > 0


def test_bad_crc_and_length_at_the_end(tmp_path: Path) -> None:
    crc = GZ[:-8] + bytes([GZ[-8] ^ 1]) + GZ[-7:]
    got, damage = read_file(write(tmp_path, crc))
    assert got == DATA  # all of it was decoded; the check at the end failed
    assert damage is not None and damage.problem.startswith("CRC-32 mismatch")
    length = GZ[:-1] + bytes([GZ[-1] ^ 1])
    got, damage = read_file(write(tmp_path, length))
    assert got == DATA and damage is not None and "length mismatch" in damage.problem


def test_bad_header_and_garbage_after_the_end(tmp_path: Path) -> None:
    got, damage = read_file(write(tmp_path, GZ[:2] + b"\x09" + GZ[3:]))
    assert got == b"" and damage is not None and "bad gzip header" in damage.problem
    assert "nothing could be read before it" in str(damage)
    got, damage = read_file(write(tmp_path, GZ + b"not gzip"))
    assert got == DATA and damage is not None and "not gzip after the end" in damage.problem
    assert damage.at == len(GZ)
    got, damage = read_file(write(tmp_path, GZ[:2]))
    assert got == b"" and damage is not None and "cut short" in damage.problem


def test_plain_file_with_nul_bytes_and_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    """Read to the end (the lines around them are good), then reported with counts and where
    the first of each is."""
    blob = DATA[:5000] + b"\0" * 4096 + DATA[9096:20000] + b"\xff\xfe" + DATA[20002:]
    got, damage = read_file(write(tmp_path, blob, "com.zone"))
    assert got == blob
    assert damage is not None and not damage.stopped
    assert "4,096 NUL byte(s), the first at content byte 5,000" in damage.problem
    assert "2 byte(s) that are not UTF-8, the first at content byte 20,000" in damage.problem
    assert str(damage).endswith(f"read to the end, {len(blob):,} bytes")
    # the same inside a gzip file
    got, damage = read_file(write(tmp_path, gzip.compress(blob)))
    assert got == blob and damage is not None and "4,096 NUL" in damage.problem


def test_utf8_cut_by_a_read_is_not_damage(tmp_path: Path) -> None:
    text = ("bücher NS ns.x.net. ; € 😀\n" * 5000).encode()
    for size in (1, 2, 3, 5, 4096):
        got, damage = read_file(write(tmp_path, text, "se.zone"), size=size)
        assert got == text and damage is None, size
    got, damage = read_file(write(tmp_path, text[:-1], "se.zone"))  # no newline at the end
    assert damage is None
    got, damage = read_file(write(tmp_path, text + "😀".encode()[:3], "se.zone"))
    assert damage is not None and "3 byte(s) that are not UTF-8" in damage.problem


def test_domain_list_cut_short_gives_the_whole_lines_before_it(tmp_path: Path) -> None:
    names = "".join(f"domain{i}.example\n" for i in range(100_000)).encode()
    blob = gzip.compress(names)
    path = write(tmp_path, blob[: len(blob) // 2], "list.txt.gz")
    assert detect_format(path) == InputFormat.DOMAINS
    got: list[Delegation] = []
    with pytest.raises(InputDamaged) as caught:
        got.extend(read_domains(path))
    assert got and [d.name for d in got] == [f"domain{i}.example." for i in range(len(got))]
    damage = caught.value
    assert damage.lines == len(got)  # the line the damage cut is not a name
    assert damage.content >= len(b"".join(f"domain{i}.example\n".encode() for i in range(len(got))))
    # damaged at once: told from nothing, reported by the reader
    bad = write(tmp_path, blob[:2] + b"\x09" + blob[3:], "bad.txt.gz")
    assert detect_format(bad) == InputFormat.DOMAINS
    with pytest.raises(InputDamaged, match="bad gzip header"):
        list(read_domains(bad))


def test_a_buffered_stream_is_read_the_same_way() -> None:
    f = InputFile("<stream>", io.BufferedReader(io.BytesIO(GZ[:MID])))
    got = bytearray()
    with pytest.raises(InputDamaged) as caught:
        while chunk := f.read(1 << 16):
            got += chunk
    assert DATA.startswith(bytes(got)) and caught.value.size is None
    assert str(caught.value).startswith(f"<stream>: damaged input at byte {MID:,}: ")
