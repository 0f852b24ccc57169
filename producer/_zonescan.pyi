"""Types of the compiled fast path (producer/_zonescan.c); see producer/zonec.py."""

from typing import Any

from producer.zonetypes import Delegation

def setup(vocabulary: dict[str, int], delegation_type: type[Delegation], /) -> None: ...
def scan(
    block: bytes,
    pos: int,
    lineno: int,
    origin: str,
    zone: str,
    cur: str | None,
    cur_ns: list[str],
    cur_ds: bool,
    cur_line: int,
    out: list[Any],
    mode: int,
    max_ns: int,
    /,
) -> tuple[int, int, int, int, int, int, int, str | None, list[str], bool, int, int]: ...
