"""A buffered, columnar writer: rows in, batches of thousands per table out.

Each table has its own buffer, flushed when it holds ``max_rows`` rows or its oldest row is
``max_age`` seconds old. There is no background thread (chdb sessions belong to one thread of one
process): ``add`` checks the thresholds, and a caller that may sit idle calls ``flush_due()`` now and
then, and ``flush()`` (or ``close()``) at the end.

Nothing is dropped on failure: a batch leaves its buffer only after the database accepted it. After
``retries`` failed attempts the writer raises ``WriteError`` and keeps the rows; the next flush sends
them again. Because every table is a ReplacingMergeTree keyed on what a row is about, a batch that
was in fact written before the error only duplicates rows until FINAL or a merge collapses them.

The writer fills the provenance that belongs to the write: ``worker_host``, ``written_at`` and
``version`` (microseconds, strictly increasing per writer, so the later write of a key wins; for
``certificates`` the earliest ``first_seen`` wins instead).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from workers.store.backend import Database, StoreError, epoch_seconds
from workers.store.rows import BY_TABLE, Row

INSERT_CHUNK = 100_000


class WriteError(Exception):
    """A batch could not be written; its rows are still pending in the writer."""

    def __init__(self, table: str, pending: int, cause: BaseException) -> None:
        super().__init__(f"writing {table} failed, {pending} rows kept for the next flush: {cause}")
        self.table = table
        self.pending = pending


class BufferFull(WriteError):
    """The writer holds ``max_pending`` unwritten rows; the row offered was NOT taken."""


@dataclass
class _Buffer:
    rows: list[Row] = field(default_factory=list)
    since: float = 0.0
    blocked_until: float = 0.0  # after a failed write, automatic flushes wait until then
    failures: int = 0


@dataclass
class WriterStats:
    rows_written: int = 0
    batches: int = 0
    failures: int = 0


class Writer:
    """Buffers rows per table and writes them in columnar batches."""

    def __init__(
        self,
        db: Database,
        *,
        max_rows: int = 10_000,
        max_age: float = 1.0,
        retries: int = 2,
        retry_delay: float = 0.5,
        max_pending: int = 1_000_000,
        worker_host: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.db = db
        self.max_rows = max_rows
        self.max_age = max_age
        self.retries = retries
        self.retry_delay = retry_delay
        self.max_pending = max_pending
        self.worker_host = worker_host or socket.gethostname()
        self.stats = WriterStats()
        self._clock = clock
        self._sleep = sleep
        self._buffers: dict[str, _Buffer] = {}
        self._schemas: dict[str, list[tuple[str, str]]] = {}
        self._last_version = 0

    # -- adding rows ---------------------------------------------------------------------------

    def add(self, row: Row) -> None:
        """Buffer one row; writes the batches that are due.

        Raises ``WriteError`` when a due batch failed (the row and the batch are kept), and
        ``BufferFull`` when ``max_pending`` rows already wait (the row is not taken).
        """
        table = row.TABLE
        buf = self._buffers.get(table)
        if buf is None:
            buf = self._buffers[table] = _Buffer()
        if len(buf.rows) >= self.max_pending:
            raise BufferFull(table, len(buf.rows), StoreError("too many unwritten rows"))
        if not buf.rows:
            buf.since = self._clock()
        buf.rows.append(row)
        self.flush_due()

    def add_dict(self, table: str, values: Mapping[str, Any]) -> None:
        """Buffer one row given as a mapping; TypeError at once if its keys do not fit the table."""
        row_type = BY_TABLE.get(table)
        if row_type is None:
            raise ValueError(f"no such table: {table}")
        self.add(row_type(**values))

    def add_many(self, rows: Iterable[Row]) -> None:
        for row in rows:
            self.add(row)

    # -- flushing ------------------------------------------------------------------------------

    def pending(self) -> dict[str, int]:
        return {t: len(b.rows) for t, b in self._buffers.items() if b.rows}

    def flush_due(self) -> int:
        """Write the tables whose buffer is full or old enough; returns rows written."""
        now = self._clock()
        due = [
            t
            for t, b in self._buffers.items()
            if b.rows
            and now >= b.blocked_until
            and (len(b.rows) >= self.max_rows or now - b.since >= self.max_age)
        ]
        return sum(self._flush_table(t) for t in due)

    def flush(self) -> int:
        """Write everything buffered now (ignoring back-off); returns rows written.
        WriteError keeps what failed."""
        written = 0
        errors: list[WriteError] = []
        for table in list(self._buffers):
            try:
                written += self._flush_table(table)
            except WriteError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]
        return written

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _flush_table(self, table: str) -> int:
        buf = self._buffers[table]
        written = 0
        while buf.rows:
            chunk = buf.rows[:INSERT_CHUNK]
            self._write_with_retries(table, chunk, len(buf.rows))
            del buf.rows[: len(chunk)]
            written += len(chunk)
            buf.since = self._clock()
        return written

    def _write_with_retries(self, table: str, rows: list[Row], pending: int) -> None:
        buf = self._buffers[table]
        attempt = 0
        while True:
            try:
                self._write(table, rows)
                self.stats.rows_written += len(rows)
                self.stats.batches += 1
                buf.failures = 0
                buf.blocked_until = 0.0
                return
            except (StoreError, ValueError, TypeError, OverflowError) as exc:
                self.stats.failures += 1
                if attempt >= self.retries:
                    # back off exponentially (up to a minute) before the next automatic attempt
                    buf.failures += 1
                    backoff = min(60.0, max(self.retry_delay, 0.1) * 2**buf.failures)
                    buf.blocked_until = self._clock() + backoff
                    raise WriteError(table, pending, exc) from exc
                attempt += 1
                self._sleep(self.retry_delay * attempt)

    def _write(self, table: str, rows: list[Row]) -> None:
        schema = self._schemas.get(table)
        if schema is None:
            schema = self._schemas[table] = self.db.columns(table)
        names = [n for n, _ in schema]
        types = [t for _, t in schema]
        data = [self._column(name, rows, table) for name in names]
        self.db.insert(table, names, types, data)

    def _column(self, name: str, rows: list[Row], table: str) -> list[Any]:
        n = len(rows)
        if name == "worker_host":
            return [self.worker_host] * n
        if name == "written_at":
            return [int(time.time())] * n
        if name == "version":
            if table == "certificates":
                return [(0xFFFFFFFF - epoch_seconds(getattr(r, "first_seen"))) for r in rows]  # noqa: B009
            return self._versions(n)
        return [getattr(r, name) for r in rows]

    def _versions(self, n: int) -> list[int]:
        base = max(time.time_ns() // 1000, self._last_version + 1)
        self._last_version = base + n - 1
        return list(range(base, base + n))
