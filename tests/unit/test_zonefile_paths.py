"""The fast paths (C, numpy) and the careful (per-line) path agree on every feature.

The fast path has two engines: ``c`` (producer/_zonescan.c, an optional extension) and ``numpy``
(producer/zonefast.py, used when the extension is not built). Every comparison runs with both; the
C runs are skipped, with the reason, when the extension is missing (see test_engine_in_use).
"""

from __future__ import annotations

import gzip
import random
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from producer import zonec
from producer.zonefile import (
    Delegation,
    InputDamaged,
    ParserOptions,
    ParseStats,
    ZoneParser,
    read_zone,
)

ENGINES = [
    pytest.param("c", marks=pytest.mark.skipif(not zonec.AVAILABLE, reason=str(zonec.UNAVAILABLE))),
    "numpy",
]


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The fast-path engine for the parsers made in the test (strict ones use neither)."""
    name: str = request.param
    monkeypatch.setenv("DANESCAN_ZONE_ENGINE", name)
    return name


FEATURES = [
    "d{i} NS ns1.h{h}.net.\nd{i} NS ns2.h{h}.net.\n",
    "D{i} 3600 IN NS NS1.H{h}.NET.\nd{i}.com. 172800 in ns ns2.h{h}.net.\n",
    "d{i} NS ns1.d{i}\nns1.d{i} A 192.0.2.1\nns1.d{i} AAAA 2001:db8::1\nd{i} NS ns2.d{i}\n",
    "d{i} DS {i} 13 2 {hex}\nd{i} NS ns.h{h}.net.\n",
    "d{i} DS 1 8 2 (\n   {hex} ; digest\n   )\nd{i} NS ns.h{h}.net.\n",
    "d{i} NS ns.h{h}.net. ; trailing comment (with a paren\n",
    "; comment line {i}\n\n   \n",
    "d{i} NS ns.h{h}.net.\n    NS ns2.h{h}.net.\n\tDS 1 8 2 AB\n",
    'd{i} TXT "a ; quoted (x" "b"\nd{i} NS ns.h{h}.net.\n',
    "a\\.b{i} NS ns.x.net.\n\\065bc{i} NS ns.x.net.\n",
    "sp{i} ( NS\n ns.x.net. )\n",
    "d{i} 1h30m NS ns.h{h}.net.\nd{i} IN 3600 NS ns3.h{h}.net.\n",
    "bücher{i} NS ns.x.net.\n",
    "x{i} 99999999999 NS ns.x.\n",
    "x{i} FOO ns.x.\n",
    "x{i} NS\nx{i} NS a. b.\nx{i} DS 1 8\n",
    "a..b{i} NS ns.x.\n",
    "{long} NS ns.x.\n",
    "x{i}.org. NS ns.x.\n",
    "$TTL 1x\n$GENERATE 1-2 x$ NS ns\n$INCLUDE other.zone\n",
    "x{i} NS ns.x. )\n",
    'x{i} TXT "open\n',
    "x{i} CH NS ns.x.net.\n  NS ns2.x.net.\ny{i} IN NS ns.x.net.\n",
    "only{i} DS 1 8 2 AB\n",
    "d{i} NS ns.h{h}.net.\nz{i} NS ns.x.net.\nd{i} NS ns9.h{h}.net.\n",
    "$ORIGIN sub.com.\n@ NS ns1\ns{i} NS ns.s\n$ORIGIN com.\n",
    "@ NS a.gtld.\n",
    "d{i} NS @\nd{i} NS ns1.h{h}.net.\n",
    "D{i} NS NS1.H{h}.NET.\nd{i} NS ns2.h{h}.net.\nd{i}.com. NS ns3.h{h}.net.\n",
    "d{i} NS ns.h{h}.net.\r\nd{i} NS ns2.h{h}.net.\r\n",
    "bad\\000{i} NS ns.x.net.\n",
    "\xff\xfe{i} NS ns.x.\n",
    "d{i} NS " + "n" * 70 + ".net.\n",
    "d{i} NS ns." + "x" * 64 + ".net.\n",
    "d{i} A 192.0.2.1\n  NS ns.h{h}.net.\n",
    "x{i} DS 1 8 2 ( AB\ny{i} NS ns.x.net.\n",
    # shapes the C engine reads itself, and their near misses
    "d{i} IN 3600 NS ns.h{h}.net.\nd{i} In 2147483647 ns ns2.h{h}.net.\n",
    "d{i} 2147483648 NS ns.h{h}.net.\nd{i} 3600 IN IN NS ns.x.\nd{i} 1 2 NS ns.x.\n",
    "d{i} RRSIG NS 8 2 86400 20250101 20240101 1 com. AAAA ( BBBB )\nd{i} NSEC3 1 0 0 - X NS\n",
    "d{i} NS ns.h{h}.net. ; comment \u00fc\nd{i}\tDS\t1\t8\t2\tAB\r\n",
    "d{i} ( NS ns.h{h}.net. ) ; c\nd{i} DS 1 8 2 ( AB ; x\n CD ) ; c\n",
    "d{i} DS 1 8 2 ( AB (\n CD ))\nd{i} NS ns.x.net. )\n",
    "{l63} NS ns.x.net.\n{l63}.{l63}.{l63}.{l60} NS ns.x.net.\n{l63}.{l63}.{l63}.{l61} NS ns.x.\n",
    "d{i} NS {l63}.{l63}.{l63}.{l56}.net.\nd{i} NS {l63}.{l63}.{l63}.{l57}.net.\n",
    "*.d{i} NS ns.x.net.\n@x{i} NS ns.x.net.\nd{i} NS .\nd{i} NS ns..x.\n.d{i} NS ns.x.\n",
    "D{i}.COM. NS NS.X.NET.\nd{i}.Com NS ns.x.net.\nd{i}.com.com. NS ns\n",
    "d{i} TYPE2 ns.x.net.\nd{i} CLASS1 NS ns.x.net.\nd{i} SOA a. b. 1 2 3 4 5\n",
    "d{i} NS ns.x.net.\x00\nd{i} NS ns.x\x7f.net.\nd{i} NS ns.x.net.\x0b\n",
    "d{i} NS ns.h{h}.net." + " " * 60 + "\n" + "d{i} 3600 IN NS " + "n" * 62 + ".net.\n",
    "@ DS 1 8 2 AB\n$ORIGIN d{i}.com.\n@ NS ns\nsub NS ns.sub\n$ORIGIN com.\n",
    # one owner with many NS records, repeats among them (cut by max_ns)
    "m{i} NS c.x.\nm{i} NS a.x.\nm{i} NS c.x.\nm{i} NS b.x.\n m{i} NS d.x.\nm{i} NS a.x.\n"
    "m{i} DS 1 8 2 AB\nm{i} NS e.x.\n",
]


def zone_text(seed: int, n: int, weights: list[float] | None = None) -> bytes:
    rng = random.Random(seed)
    out = ["$ORIGIN com.\n$TTL 86400\n@ IN SOA a.gtld. nstld. ( 1 2\n 3 4 5 )\n"]
    for i in range(n):
        tpl = rng.choices(FEATURES, weights=weights)[0]
        out.append(
            tpl.format(
                i=i,
                h=rng.randrange(50),
                hex="AB" * rng.randrange(1, 40),
                long="q" * 64,
                l63="a" * 63,
                l60="b" * 60,
                l61="c" * 61,
                l56="e" * 56,
                l57="f" * 57,
            )
        )
    return "".join(out).encode("utf-8", "surrogateescape").replace(b"\\xff\\xfe", b"\xff\xfe")


def run(data: bytes, **opts: object) -> tuple[list[Delegation], ParseStats]:
    parser = ZoneParser(ParserOptions(**opts))  # type: ignore[arg-type]
    out = list(parser.parse(data.splitlines(keepends=True)))
    return out, parser.stats()


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(
    "opts",
    [
        {},
        {"lru_window": 3},
        {"emit_ds_only": True},
        {"max_examples": 1000},
        {"max_ns": 2},
        {"max_ns": 3, "lru_window": 3},
    ],
)
def test_fast_and_strict_paths_agree(seed: int, opts: dict[str, object], engine: str) -> None:
    data = zone_text(seed, 400)
    fast, fs = run(data, **opts)
    slow, ss = run(data, strict=True, **opts)
    assert fast == slow
    assert fs == ss
    assert fs.malformed > 0 and fs.delegations > 100  # the features are really there


def test_mostly_clean_zone_agrees_across_block_edges(tmp_path: Path, engine: str) -> None:
    # mostly plain lines, so most of it goes the fast way, over several 1 MiB blocks
    weights = [80.0, 5, 5, 5, 2] + [0.05] * (len(FEATURES) - 5)
    data = zone_text(99, 40_000, weights)
    assert len(data) > 1 << 20
    path = tmp_path / "com.zone"
    path.write_bytes(data)
    p1, it1 = read_zone(path)
    p2, it2 = read_zone(path, ParserOptions(strict=True))
    assert (p1.engine, p2.engine) == (engine, "careful")
    (fast, damage1), (slow, damage2) = read_all(it1), read_all(it2)
    assert fast == slow
    assert p1.stats() == p2.stats()
    assert p1.stats().lines == data.count(b"\n")
    # the features hold raw NUL and non-UTF-8 bytes: read over, then reported as damage
    assert damage1 is not None and damage2 is not None and str(damage1) == str(damage2)
    assert not damage1.stopped and damage1.lines == p1.stats().lines


def test_damaged_gzip_zone_agrees_and_stops_at_the_damage(tmp_path: Path, engine: str) -> None:
    """A gzip zone cut short: every engine yields the delegations of the whole lines before the
    damage (less the last one, whose records may go on past it), then raises the damage."""
    weights = [80.0, 5, 5, 5, 2] + [0.05] * (len(FEATURES) - 5)
    data = zone_text(7, 60_000, weights)
    packed = gzip.compress(data)
    path = tmp_path / "com.zone.gz"
    path.write_bytes(packed[: len(packed) * 2 // 3])
    p1, it1 = read_zone(path)
    p2, it2 = read_zone(path, ParserOptions(strict=True))
    (fast, damage1), (slow, damage2) = read_all(it1), read_all(it2)
    assert fast == slow and p1.stats() == p2.stats()
    assert damage1 is not None and damage2 is not None and str(damage1) == str(damage2)
    assert damage1.stopped and "cut short" in damage1.problem
    assert damage1.lines == p1.stats().lines and f"({damage1.lines:,} lines)" in str(damage1)
    content = data[: damage1.content]
    whole = content[: content.rfind(b"\n") + 1]
    assert whole.count(b"\n") == damage1.lines
    ref, _ = run(whole, strict=True)
    assert len(fast) > 10_000 and fast == ref[: len(fast)] and len(ref) - len(fast) <= 1


def read_all(it: Iterator[Delegation]) -> tuple[list[Delegation], InputDamaged | None]:
    out: list[Delegation] = []
    try:
        out.extend(it)
    except InputDamaged as damage:
        return out, damage
    return out, None


def test_fast_path_reports_malformed_line_numbers(engine: str) -> None:
    head = b"$ORIGIN com.\n@ SOA a. b. 1 2 3 4 5\n"
    body = b"".join(b"d%d NS ns.x.net.\n" % i for i in range(5000))
    data = head + body + b"a..b NS ns.x.net.\n" + body + b"x.org. NS ns.x.\n"
    out, st = run(data)
    assert st.malformed == 2
    assert [(e.line, e.reason.value) for e in st.examples] == [
        (5003, "bad-name"),
        (10004, "out-of-zone"),
    ]
    assert len(out) == 10000  # the second run re-emits the same names: downstream dedups
    assert out[0] == Delegation("d0.com.", "com.", ("ns.x.net.",), False, 3)


def test_a_line_without_newline_for_megabytes_is_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from producer import zonefile

    monkeypatch.setattr(zonefile, "MAX_LINE_BYTES", 100)
    data = b"x" * 1000 + b" NS ns.x.\nd NS ns.x.net.\n"
    blocks = list(zonefile._Blocks(io.BytesIO(data), block_size=64))
    assert max(len(b) for b in blocks) < 300  # nothing held for the whole line
    assert b"".join(blocks).replace(b"\n", b"") == data.replace(b"\n", b"")
    assert blocks[-1].endswith(b"d NS ns.x.net.\n")


def test_engine_in_use() -> None:
    """Which fast path runs here: the C one when the extension is built, else numpy (skipped with
    the import error, so that the test summary says so)."""
    parser = ZoneParser()
    if not zonec.AVAILABLE:
        assert parser.engine == "numpy"
        pytest.skip(f"numpy fast path ran: {zonec.UNAVAILABLE}")
    assert parser.engine == "c"
    assert ZoneParser(ParserOptions(strict=True)).engine == "careful"


@pytest.mark.parametrize("seed", range(6))
def test_hostile_bytes_agree(seed: int, engine: str) -> None:
    """Random damage (NUL, high bytes, parentheses, quotes, cut and glued lines, huge lines) to a
    feature-rich zone: the fast path still says exactly what the careful one says."""
    rng = random.Random(1000 + seed)
    data = bytearray(zone_text(seed, 300))
    alphabet = b'\x00\xff\xc3\x80()";\\\n\r\t .@$0aZ'
    for _ in range(400):
        at = rng.randrange(len(data))
        op = rng.random()
        if op < 0.6:
            data[at] = rng.choice(alphabet)
        elif op < 0.8:
            del data[at : at + rng.randrange(1, 40)]
        else:
            data[at:at] = bytes([rng.choice(alphabet)]) * rng.randrange(1, 300)
    data[len(data) // 2 : len(data) // 2] = b"x" * 200_000 + b" NS ns.x.\n"
    fast, fs = run(bytes(data))
    slow, ss = run(bytes(data), strict=True)
    assert fast == slow
    assert fs == ss


def big_group_zone(path: Path, n: int) -> list[str]:
    """A zone whose owner ``big`` has ``n`` NS records (repeats among the first 20); returns
    the targets in record order."""
    targets = [f"ns{i % 7 if i < 20 else i}.example.net." for i in range(n)]
    with path.open("w") as f:
        f.write("$ORIGIN com.\n@ SOA a. b. 1 2 3 4 5\nsmall NS ns.x.net.\n")
        f.writelines(f"big NS {t}\n" for t in targets)
        f.write("after NS ns.x.net.\n")
    return targets


@pytest.mark.parametrize("max_ns", [1, 3, 64])
def test_one_delegation_with_many_name_servers_is_bounded(
    tmp_path: Path, engine: str, max_ns: int
) -> None:
    """A group keeps its first max_ns distinct NS targets (record order) and counts the NS
    records it left out, the same in every engine, across block edges."""
    path = tmp_path / "com.zone"
    targets = big_group_zone(path, 60_000)  # about 1.5 MiB: the group spans blocks
    parser, it = read_zone(path, ParserOptions(max_ns=max_ns))
    out = list(it)
    kept = tuple(sorted(list(dict.fromkeys(targets))[:max_ns]))
    assert [(d.name, d.ns) for d in out] == [
        ("small.com.", ("ns.x.net.",)),
        ("big.com.", kept),
        ("after.com.", ("ns.x.net.",)),
    ]
    cut = sum(1 for t in targets if t not in kept)
    assert parser.stats().ns_cut == cut
    slow, ss = run(path.read_bytes(), strict=True, max_ns=max_ns)
    assert slow == out and ss == parser.stats()


def test_many_name_servers_in_flat_memory(tmp_path: Path, engine: str) -> None:
    """One delegation with a million distinct NS lines held 250 MB: four times the lines now
    take no more memory (unbounded, 300,000 more names would be about 25 MB more)."""
    peaks = []
    for n in (100_000, 400_000):
        path = tmp_path / f"{n}.zone"
        big_group_zone(path, n)
        tracemalloc.start()
        try:
            parser, it = read_zone(path)
            out = list(it)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        assert len(out[1].ns) == 64 and parser.stats().ns_cut == n - 77  # 7 distinct in the first 20, then 57 more
    assert peaks[1] - peaks[0] < 4 << 20, peaks
