"""Pure parts of the writer's poison handling: decoding that trusts nothing, which write errors
are the data's fault, the bisection's cost, and the dead-letter header."""

from __future__ import annotations

import base64
import itertools
import json
import math
import struct
from collections.abc import Sequence

import pytest
from clickhouse_driver import errors as ch_errors

from workers.cluster import codec, deadletter, poison
from workers.store.backend import StoreError
from workers.store.rows import DomainRow, ScanRow
from workers.store.writer import WriteError

GOOD_ROW = ["scans", "s", "adhoc", 0, 0, ["a"], "{}", "1.0", "running", 0]


def _msg(rows: object, **over: object) -> bytes:
    env: dict[str, object] = {"scan": "s", "kind": "dns", "key": "c1", "domains": 2}
    env.update(over)
    return json.dumps({**env, "rows": rows}).encode()


# -- decoding --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "says"), [
    (b"[" * 100_000, "nested too deeply"),
    (b'{"a":' * 100_000, "nested too deeply"),
    (b'{"scan":"s","rows":' + b"[" * 5000, "nested too deeply"),
    (b"\xff\xfe\xfa garbage", "not JSON"),
    (b'{"scan": "s", ', "not JSON"),
    (b"", "not JSON"),
    (b"[1, 2]", "is a JSON object, not list"),
    (_msg([], scan=None), "'scan' is NoneType, not str"),
    (_msg([], domains=True), "'domains' is bool, not int"),
    (_msg([], domains="3"), "'domains' is str, not int"),
    (_msg([], domains=-1), "negative"),
    (json.dumps({"scan": "s", "kind": "dns", "key": "c", "domains": 1}).encode(), "no 'rows'"),
    (_msg({"rows": 1}), "rows are a list, not dict"),
    (_msg([["nope", 1]]), "row 0: no such table: 'nope'"),
    (_msg([GOOD_ROW, 5]), "row 1: not a [table, value, ...] list"),
    (_msg([[]]), "row 0: not a"),
    (_msg([["scans", "s"]]), "row 0 (scans): 1 values, the table takes 3 to 10"),
    (_msg([[*GOOD_ROW, "", "extra"]]), "row 0 (scans): 11 values"),
    (_msg([["scans", "s", 7, 0]]), "row 0 (scans) kind: int, not str"),
    (_msg([["scans", "s", "adhoc", "yesterday"]]), "started_at: str, not int/float"),
    (_msg([["scans", "s", "adhoc", 0, 0, "abc"]]), "inputs: str, not list of str"),
    (_msg([["scans", "s", "adhoc", 0, 0, ["a", None]]]), "inputs: list of NoneType/str"),
    (_msg([["scans", "s", "adhoc", 0, 0, [["x"] * 3]]]), "inputs: list of list"),
    (_msg([["scans", "s", {"b64": "!!"}, 0]]), "kind: bad base64"),
    (_msg([["scans", "s", {"b64": "YQ==", "x": 1}, 0]]), 'kind: an object that is not {"b64"'),
    (_msg([["scans", "s", {"b64": "YQ=="}, 0]]), "kind: bytes, not str"),
], ids=lambda v: repr(v[:40]) if isinstance(v, bytes) else None)
def test_a_bad_message_is_one_decode_error(raw: bytes, says: str) -> None:
    with pytest.raises(codec.DecodeError) as caught:
        codec.decode_message(raw)
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)


def test_good_messages_decode_and_older_ones_take_the_defaults() -> None:
    msg, rows = codec.decode_message(_msg([GOOD_ROW]))
    assert msg["key"] == "c1" and rows == [ScanRow("s", "adhoc", 0, 0, ["a"], "{}", "1.0")]
    # a worker of an older version wrote fewer values (a column added since): the defaults fill in
    _, rows = codec.decode_message(_msg([["scans", "s", "nightly", 5]]))
    assert rows == [ScanRow("s", "nightly", 5)]
    # bytes travel as base64 and come back as bytes
    cert = ["certificates", "ab", {"b64": base64.b64encode(b"\x30\x82").decode()}, "CN=x",
            "CN=y", [], 0, 0, "1", "2", "ec", 256, 0, "", "y", 0, "s"]
    _, rows = codec.decode_message(_msg([cert]))
    assert rows[0].der == b"\x30\x82"  # type: ignore[union-attr]


def test_the_envelope_of_an_undecodable_message() -> None:
    whole = codec.encode_message("nightly-1", "dns", "c17", 500, [])
    broken = whole[:-5] + b"[" * 100_000
    assert codec.envelope(broken) == {"scan": "nightly-1", "kind": "dns", "key": "c17",
                                      "domains": 500}
    assert codec.envelope(b"[" * 100_000) == {}
    assert codec.envelope(b'{"scan":"a\\"b","kind":"smtp","key":"s1.0","domains":0,"rows":[') == {
        "scan": 'a"b', "kind": "smtp", "key": "s1.0", "domains": 0}


# -- whose fault ---------------------------------------------------------------------------------


def _chain(*excs: BaseException) -> BaseException:
    """excs[0] raised from excs[1] raised from ..., as the writer and the backend do."""
    for outer, inner in itertools.pairwise(excs):
        outer.__cause__ = inner
    return excs[0]


def _struct_error() -> struct.error:
    try:
        struct.pack("<B", 70000)
    except struct.error as exc:
        return exc
    raise AssertionError("struct.pack took 70000 as a byte")


def _attribute_error(obj: object, name: str) -> AttributeError:
    try:
        getattr(obj, name)
    except AttributeError as exc:
        return exc
    raise AssertionError(f"{obj!r} has {name}")


ROW = DomainRow("s", "a.test", "test", [], 0, 0, [], [], 0, 0, "NOERROR", "insecure", "",
                "NOERROR")


def _is_row(obj: object) -> bool:
    return isinstance(obj, DomainRow)


@pytest.mark.parametrize(("exc", "fault"), [
    # the driver: a value that does not fit its column (struct.error inside TypeMismatchError)
    (_chain(WriteError("domains", 1, StoreError("x")), StoreError("clickhouse-server: Code: 53."),
            ch_errors.TypeMismatchError("Code: 53. Type mismatch"), _struct_error()), True),
    (_chain(WriteError("domains", 1, StoreError("x")), StoreError("at 127.0.0.1:1: x"),
            ch_errors.ServerException("Cannot parse", code=6)), True),
    (_chain(StoreError("x"), ch_errors.ServerException("too many parts", code=252)), False),
    (_chain(StoreError("x"), ch_errors.ServerException("Table t.domains doesn't exist", code=60)),
     False),
    (_chain(StoreError("x"), ch_errors.ServerException("Memory limit", code=241)), False),
    (_chain(StoreError("x"), ch_errors.ServerException("something new", code=999)), False),
    (_chain(StoreError("not reachable"), ch_errors.NetworkError("Connection refused")), False),
    (_chain(StoreError("not reachable"), ch_errors.SocketTimeoutError("timed out")), False),
    (_chain(StoreError("not reachable"), ConnectionRefusedError(111, "refused")), False),
    (_chain(StoreError("x"), EOFError("Unexpected EOF while reading bytes")), False),
    (TimeoutError("timed out"), False),
    (StoreError("too many unwritten rows"), False),
    # chdb: the code is in the text
    (_chain(StoreError("chdb"), RuntimeError("Code: 53. DB::Exception: Type mismatch")), True),
    (_chain(StoreError("chdb"), RuntimeError("Code: 241. DB::Exception: Memory limit")), False),
    # values turned into columns on our side (pyarrow's errors are ValueError/TypeError)
    (_chain(WriteError("domains", 1, ValueError("x")), ValueError("Value 70000 too large")), True),
    (_chain(WriteError("domains", 1, TypeError("x")), TypeError("Expected bytes")), True),
    (_chain(WriteError("domains", 1, OverflowError("x")), OverflowError("int too large")), True),
    (UnicodeEncodeError("utf-8", "\udc80", 0, 1, "surrogates not allowed"), True),
    (_attribute_error(5, "encode"), True),  # a number where a string goes
    (_attribute_error(ROW, "a_column_the_row_lacks"), False),  # the schema, not the data
    (KeyError("x"), False),
])
def test_whose_fault(exc: BaseException, fault: bool) -> None:
    assert poison.at_fault(exc, _is_row) is fault


def test_one_line() -> None:
    line = poison.one_line(StoreError("Code: 53.\n  Type mismatch Stack trace: 0. x"))
    assert line == "StoreError: Code: 53. Type mismatch"
    assert len(poison.one_line(ValueError("x" * 1000), 80)) == 80


# -- bisection --------------------------------------------------------------------------------------


class DataError(ValueError):
    pass


class Outage(OSError):
    pass


def _writer(bad: set[int], log: list[Sequence[int]], down_at: int | None = None):  # type: ignore[no-untyped-def]
    def write(part: Sequence[int]) -> None:
        log.append(list(part))
        if down_at is not None and len(log) == down_at:
            raise Outage("connection refused")
        hit = [i for i in part if i in bad]
        if hit:
            raise DataError(f"item {hit[0]}")
    return write


@pytest.mark.parametrize(("n", "bad"), [
    (1, set()), (1, {0}), (2, {1}), (7, {0, 6}), (64, {31}), (64, {0, 1, 2, 3}),
    (2000, {5}), (2000, {3, 999, 1000, 1999}), (1000, set(range(0, 1000, 50))), (16, set(range(16))),
])
def test_isolate_finds_exactly_the_bad_items_in_few_writes(n: int, bad: set[int]) -> None:
    log: list[Sequence[int]] = []
    items = list(range(n))
    got = poison.isolate(items, _writer(bad, log), lambda e: isinstance(e, DataError))
    assert [i for i, _ in got.at_fault] == sorted(bad)
    assert all(str(e) == f"item {i}" for i, e in got.at_fault)
    written = [i for part in log if not set(part) & bad for i in part]
    assert sorted(written) == sorted(set(items) - bad)  # every good item written, once
    assert got.writes == len(log)
    assert got.writes <= 1 + 2 * len(bad) * max(1, math.ceil(math.log2(n)))


def test_isolate_does_not_split_what_is_not_the_datas_fault() -> None:
    log: list[Sequence[int]] = []
    with pytest.raises(Outage):
        poison.isolate(list(range(100)), _writer(set(), log, down_at=1),
                       lambda e: isinstance(e, DataError))
    assert len(log) == 1
    log.clear()  # the server goes away in the middle of a bisection: stop there too
    with pytest.raises(Outage):
        poison.isolate(list(range(100)), _writer({50}, log, down_at=3),
                       lambda e: isinstance(e, DataError))
    assert len(log) == 3
    assert poison.isolate([], _writer(set(), log), lambda e: True).writes == 0


# -- the dead-letter header ----------------------------------------------------------------------


def test_dead_letter_header_cut_and_line() -> None:
    raw = codec.encode_message("s1", "dns", "c4", 3, []) + b"x" * 100
    dl, kept = deadletter.letter(raw, "write", "StoreError: Code: 53.\x1b[31m red", {
        "scan": "s1", "kind": "dns", "key": "c4", "domains": 3}, ["domains", "dns_rrsets"],
        max_bytes=50, now=0.0)
    assert kept == raw[:50] and dl.cut and (dl.size, dl.kept) == (len(raw), 50)
    back = deadletter.DeadLetter.from_header(7, dl.header())
    assert back == deadletter.DeadLetter(**{**back.__dict__, "id": 7}) and back.id == 7
    assert back.tables == ("domains", "dns_rrsets") and back.failure_field() == "writer:dns:c4"
    line = back.line()
    assert line.startswith("#7 1970-01-01T00:00:00Z write domains (s1 dns c4, ")
    assert "cut to 50 of" in line and "\x1b" not in line and "\\x1b[31m red" in line
    unknown, kept = deadletter.letter(b"[" * 10, "decode", "DecodeError: x", {})
    assert unknown.failure_field() is None and not unknown.cut and kept == b"[" * 10
    assert "(unknown origin, 10 bytes)" in unknown.line()


def test_the_envelope_of_valid_json_of_a_wrong_shape() -> None:
    spaced = json.dumps({"scan": "s", "kind": "dns", "key": "c4", "domains": 10,
                         "rows": [["domains", 12345]]}).encode()
    assert codec.envelope(spaced) == {"scan": "s", "kind": "dns", "key": "c4", "domains": 10}
    assert codec.envelope(b'{"scan": 5, "kind": "dns", "domains": -3}') == {"kind": "dns"}
    assert codec.envelope(spaced[:-3] + b"[" * 100_000) == {
        "scan": "s", "kind": "dns", "key": "c4", "domains": 10}
