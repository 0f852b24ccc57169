"""SMTP reply parsing: complete, incomplete and hostile inputs."""

from __future__ import annotations

import pytest

from workers.smtp.evidence import ProbeError
from workers.smtp.replies import Reply, ReplyFault, scan_reply
from workers.smtp.settings import ReadLimits

LIMITS = ReadLimits(max_line=100, max_lines=5, max_reply_bytes=300)


def test_multi_line_reply_ends_at_the_space_line() -> None:
    buf = b"250-mx.example\r\n250-PIPELINING\r\n250-starttls now\r\n250 8BITMIME\r\n220 next"
    reply = scan_reply(buf, LIMITS)
    assert isinstance(reply, Reply)
    assert reply.code == 250 and reply.consumed == buf.index(b"220 next")
    assert reply.lines == ("250-mx.example", "250-PIPELINING", "250-starttls now", "250 8BITMIME")
    assert reply.keywords() == {"PIPELINING", "STARTTLS", "8BITMIME"}


@pytest.mark.parametrize("cut", [1, 3, 5, 11, 17, 22])
def test_reply_split_across_reads_is_incomplete_until_its_last_line(cut: int) -> None:
    whole = b"220-first\r\n220 second\r\n"
    assert scan_reply(whole[:cut], LIMITS) is None
    assert isinstance(scan_reply(whole, LIMITS), Reply)


def test_bare_code_and_lf_only_lines() -> None:
    reply = scan_reply(b"220-x\n220\n", LIMITS)
    assert isinstance(reply, Reply) and reply.code == 220 and reply.lines == ("220-x", "220")


@pytest.mark.parametrize(
    ("buf", "error"),
    [
        (b"SSH-2.0-OpenSSH\r\n", ProbeError.NOT_SMTP),
        (b"\x16\x03\x01", ProbeError.NOT_SMTP),  # detected before any newline
        (b"22", None),  # could still become a reply
        (b"220x hello\r\n", ProbeError.NOT_SMTP),
        (b"120 too low\r\n", ProbeError.NOT_SMTP),
        (b"250-a\r\n251 b\r\n", ProbeError.NOT_SMTP),
        (b"220 " + b"x" * 200, ProbeError.LINE_TOO_LONG),
        (b"220 " + b"x" * 200 + b"\r\n", ProbeError.LINE_TOO_LONG),
        (b"250-a\r\n" * 6, ProbeError.TOO_MANY_LINES),
        (
            b"250-" + b"y" * 90 + b"\r\n" + (b"250-" + b"y" * 90 + b"\r\n") * 3,
            ProbeError.REPLY_TOO_LARGE,
        ),
    ],
)
def test_hostile_replies_fault(buf: bytes, error: ProbeError | None) -> None:
    parsed = scan_reply(buf, LIMITS)
    if error is None:
        assert parsed is None
    else:
        assert isinstance(parsed, ReplyFault) and parsed.error is error and parsed.detail


def test_fault_keeps_bounded_lines() -> None:
    fault = scan_reply((b"250-" + b"y" * 90 + b"\r\n") * 10, LIMITS)
    assert isinstance(fault, ReplyFault) and fault.error is ProbeError.REPLY_TOO_LARGE
    assert sum(len(line) + 2 for line in fault.lines) <= LIMITS.max_reply_bytes
    assert len(fault.lines) == 3
