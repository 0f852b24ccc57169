"""Which write failures are the data's fault, and finding the messages at fault in a batch.

The writer sends many result messages in one insert. When ClickHouse (or the driver, turning the
values into columns) rejects the batch, ``isolate`` splits it in halves and writes each half again,
down to the single messages that fail: k bad messages in n cost at most 1 + 2k log2(n) writes, and
every good message is written.

Only a rejection that the data causes is split. The rule (``at_fault``), on the chain of the
exception (``__cause__``, else ``__context__``) from the outside in:

* the first exception of the chain that carries a ClickHouse error code (clickhouse-driver's
  errors have ``code``; chdb's text starts ``Code: NNN.``) decides: the data's fault when the code
  is one of ``DATA_CODES`` (type mismatch, a value out of range or unparsable, sizes of arrays that
  do not match, NULL in a plain column, ...); every other code (network 210, socket timeout 209,
  unknown table 60, memory limit 241, too many parts 252, readonly 164, codes not listed) is NOT;
* when none carries a code, the innermost exception decides: the data's fault when a value could
  not be turned into a column on our side: ValueError (pyarrow's ArrowInvalid, UnicodeError),
  TypeError (ArrowTypeError), OverflowError, struct.error, and an AttributeError raised on a
  value (a number where a string goes: ``5 .encode``);
* anything else is not: OSError, EOFError and timeouts (server down, connection refused or reset),
  an AttributeError raised on a row (the table has a column the row type lacks: a schema for the
  operator to fix), a StoreError of our own with no cause, any exception not listed here.

What is not the data's fault is retried with back-off and blocks nothing but time: nothing is set
aside, so a ClickHouse outage loses nothing.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

# ClickHouse error codes (src/Common/ErrorCodes.cpp) that a value of the batch causes
DATA_CODES = frozenset({
    6,    # CANNOT_PARSE_TEXT
    26,   # CANNOT_PARSE_QUOTED_STRING
    27,   # CANNOT_PARSE_INPUT_ASSERTION_FAILED
    38,   # CANNOT_PARSE_DATE
    41,   # CANNOT_PARSE_DATETIME
    53,   # TYPE_MISMATCH (clickhouse-driver: a value that does not fit the column's type)
    69,   # ARGUMENT_OUT_OF_BOUND
    70,   # CANNOT_CONVERT_TYPE
    72,   # CANNOT_PARSE_NUMBER
    117,  # INCORRECT_DATA
    128,  # TOO_LARGE_ARRAY_SIZE
    131,  # TOO_LARGE_STRING_SIZE
    190,  # SIZES_OF_ARRAYS_DOESNT_MATCH
    321,  # VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
    349,  # CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
})
_CODE = re.compile(r"\bCode: (\d+)\b")
CONVERSION_ERRORS: tuple[type[BaseException], ...] = (
    ValueError, TypeError, OverflowError, struct.error)


def error_code(exc: BaseException) -> int | None:
    """The ClickHouse error code an exception carries, if any."""
    code = getattr(exc, "code", None)
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    if isinstance(exc, OSError):  # errno is not a ClickHouse code
        return None
    m = _CODE.search(str(exc)[:200])
    return int(m.group(1)) if m else None


def at_fault(exc: BaseException, is_row: Callable[[object], bool] = lambda _o: False) -> bool:
    """True when the data written caused ``exc`` (see the module's rule); ``is_row`` tells the
    writer's row objects apart from values, for AttributeError."""
    # the driver wraps its own conversion errors (struct.error) in a TypeMismatchError (code 53):
    # look for a code from the outside in, down to the innermost exception
    exc_chain = _chain(exc)
    for e in exc_chain:
        code = error_code(e)
        if code is not None:
            return code in DATA_CODES
    first = exc_chain[-1]
    if isinstance(first, OSError | EOFError | TimeoutError):
        return False
    if isinstance(first, AttributeError):
        return not is_row(getattr(first, "obj", None))
    return isinstance(first, CONVERSION_ERRORS)


def _chain(exc: BaseException) -> list[BaseException]:
    out = [exc]
    seen = {id(exc)}
    while (nxt := out[-1].__cause__ or out[-1].__context__) is not None and id(nxt) not in seen:
        seen.add(id(nxt))
        out.append(nxt)
    return out


def one_line(exc: BaseException, limit: int = 300) -> str:
    """``Type: message`` on one line, cut to ``limit`` characters."""
    text = " ".join(str(exc).split(" Stack trace")[0].split())
    line = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 3] + "..."


@dataclass
class Isolated:
    at_fault: list[tuple[int, BaseException]]  # (index into the items, its error), in order
    writes: int  # writes tried, the first included


def isolate(items: Sequence[T], write: Callable[[Sequence[T]], None],
            fault: Callable[[BaseException], bool]) -> Isolated:
    """Write ``items`` in as few writes as the faults allow. A write that fails for the data's
    fault (``fault(exc)``) is split in halves, down to single items, which are returned with their
    error; every other item is written. Any other failure propagates at once (the caller retries
    the whole batch later; what was written is written again, harmlessly)."""
    result = Isolated([], 0)
    stack: list[tuple[int, int]] = [(0, len(items))] if items else []
    while stack:
        lo, hi = stack.pop()
        result.writes += 1
        try:
            write(items[lo:hi])
        except Exception as exc:  # the data's fault is split, anything else re-raised
            if not fault(exc):
                raise
            if hi - lo == 1:
                result.at_fault.append((lo, exc))
            else:
                mid = (lo + hi) // 2
                stack += [(mid, hi), (lo, mid)]  # the left half first: items keep their order
    return result
