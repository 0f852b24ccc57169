"""The zone parser's engine: blocks of lines in, delegations out, through the fast or careful path.

See :mod:`producer.zonefile` for what is parsed and :mod:`producer.zonefast` for the fast path.
The careful path takes one record at a time with :func:`producer.zonesyntax.tokenize`; it reads
every line when ``ParserOptions(strict=True)``, and otherwise the lines the fast path leaves to it.
Both share the state below (origin, zone, owner in force, the group being built), in line order.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Generator, Iterable, Iterator
from itertools import chain, repeat
from typing import TYPE_CHECKING, Any, Final, cast

from producer import zonec
from producer.inputfile import InputDamaged
from producer.names import BadName, absolute_name, is_subdomain, normalise_origin
from producer.printable import printable
from producer.zonesyntax import (
    K_DS,
    K_IN,
    K_NS,
    K_SOA,
    field_kind,
    name_reason,
    parse_ttl,
    tokenize,
    zone_from_filename,
)
from producer.zonetypes import (
    Counters,
    Delegation,
    MalformedLine,
    ParserOptions,
    ParseStats,
    Reason,
)
from workers import gc_tuning

MAX_PAREN_LINES: Final = 200
MAX_PAREN_BYTES: Final = 65536
BLOCK_BYTES: Final = 1 << 20
_RESTART_SPAN: Final = 1 << 16
_EXAMPLE_TEXT: Final = 120
_new = tuple.__new__

if TYPE_CHECKING:
    from producer import zonefast  # imported on first use: numpy is not needed with the C path

_Group = tuple[str, set[str], bool, int]


class ZoneParser:
    """One parse of one zone. Pure: feed it lines or blocks (bytes), iterate the delegations.

    ``name_hint`` is the file name, used for the zone only when nothing better is known.
    """

    def __init__(self, options: ParserOptions | None = None, name_hint: str | None = None) -> None:
        self.options = options or ParserOptions()
        self._c = Counters()
        self._origin: str | None = None
        self._zone: str | None = None
        self._fixed_zone: str | None = None
        self._hint = name_hint
        self._last_class_in = True
        self._tok: str | None = None  # the owner token in force (for lines that omit it)
        self._lineno = 0
        self._span = BLOCK_BYTES  # bytes the next fast plan covers (smaller after a restart)
        self._cur: str | None = None  # the group being built
        self._cur_ns: list[str] = []  # distinct, at most max_ns, in every engine
        self._max_ns = self.options.max_ns
        self._cur_ds = False
        self._cur_line = 0
        self._out: list[Delegation] = []
        self._window: OrderedDict[str, tuple[set[str], bool, int]] | None = (
            OrderedDict() if self.options.lru_window > 0 else None
        )
        # the fast path: "c" (producer/_zonescan.c) when built, else "numpy"; strict: careful only
        self.engine = "careful" if self.options.strict else zonec.default_engine()
        self._c_mode = (
            zonec.MODE_RAW
            if self._window is not None
            else zonec.MODE_DS_ONLY
            if self.options.emit_ds_only
            else zonec.MODE_DIRECT
        )
        if self.options.origin is not None:
            origin = normalise_origin(self.options.origin)
            if isinstance(origin, BadName):
                raise ValueError(f"bad origin {self.options.origin!r}: {origin.problem}")
            self._origin = origin
            self._fixed_zone = origin

    # -- stats --

    def stats(self) -> ParseStats:
        c = self._c
        return ParseStats(
            zone=self._zone,
            lines=c.lines,
            records=c.records,
            delegations=c.delegations,
            bytes_read=c.bytes_read,
            apex_records=c.apex_records,
            ds_without_ns=c.ds_without_ns,
            other_class=c.other_class,
            malformed=c.malformed,
            malformed_by_reason=dict(c.by_reason),
            examples=tuple(c.examples),
            ns_cut=c.ns_cut,
        )

    def _bad(self, line: int, reason: Reason, text: str | bytes) -> None:
        c = self._c
        c.malformed += 1
        c.by_reason[reason] = c.by_reason.get(reason, 0) + 1
        if len(c.examples) < self.options.max_examples:
            if isinstance(text, bytes):
                text = text.decode("utf-8", "surrogateescape")
            shown = printable(text.rstrip("\r\n"), _EXAMPLE_TEXT)
            c.examples.append(MalformedLine(line, reason, shown))

    # -- names --

    def _set_zone(self, soa_owner: str | None) -> str:
        if self._fixed_zone is not None:
            zone = self._fixed_zone
        elif self._origin is not None:
            zone = self._origin
        elif soa_owner is not None:
            zone = soa_owner
        else:
            hint = zone_from_filename(self._hint) if self._hint else None
            zone = hint or "."
        self._zone = zone
        self._c.zone = zone
        if self._origin is None:
            self._origin = zone
        return zone

    def _name(self, token: str, line: int, text: str | bytes) -> str | None:
        result = absolute_name(token, self._origin)
        if isinstance(result, BadName):
            self._bad(line, name_reason(result), text)
            return None
        return result

    # -- careful path: one logical record as tokens --

    def _directive(self, tokens: list[str], line: int, text: str) -> None:
        word = tokens[0].upper()
        if word == "$ORIGIN":
            if len(tokens) != 2:
                self._bad(line, Reason.BAD_DIRECTIVE, text)
                return
            arg = tokens[1]
            result = absolute_name(arg, self._origin if not arg.endswith(".") else None)
            if isinstance(result, BadName):
                self._bad(line, name_reason(result), text)
                return
            self._origin = result
        elif word == "$TTL":
            if len(tokens) != 2 or parse_ttl(tokens[1]) is None:
                self._bad(line, Reason.BAD_TTL if len(tokens) == 2 else Reason.BAD_DIRECTIVE, text)
        elif word == "$INCLUDE":
            self._bad(line, Reason.INCLUDE_REFUSED, text)
        else:
            self._bad(line, Reason.BAD_DIRECTIVE, text)

    def _careful(
        self, tokens: list[str], has_owner: bool, owner: str | None, line: int, text: str
    ) -> tuple[str | None, tuple[int, str, str | None] | None]:
        """Classify one logical record. Returns (owner for the following lines, record or None).

        The record is (kind, owner name, NS target); only NS and DS records are returned.
        """
        if has_owner and tokens[0].startswith("$"):
            self._directive(tokens, line, text)
            return owner, None
        i = 0
        if has_owner:
            owner = tokens[0]
            i = 1
        elif owner is None:
            self._bad(line, Reason.GARBAGE, text)  # a continuation line with nothing to continue
            return owner, None
        kind: int | None = None
        seen_ttl = seen_class = False
        is_in = self._last_class_in
        while i < len(tokens):
            tok = tokens[i]
            i += 1
            if tok[:1].isdigit():
                if seen_ttl or parse_ttl(tok) is None:
                    self._bad(line, Reason.BAD_TTL, text)
                    return owner, None
                seen_ttl = True
                continue
            k = field_kind(tok)
            if k is None:
                bad = Reason.GARBAGE if tok.startswith('"') else Reason.UNKNOWN_TYPE
                self._bad(line, bad, text)
                return owner, None
            if k >= K_IN:
                if seen_class:
                    self._bad(line, Reason.GARBAGE, text)
                    return owner, None
                seen_class = True
                is_in = k == K_IN
                self._last_class_in = is_in
                continue
            kind = k
            break
        if kind is None:
            self._bad(line, Reason.GARBAGE, text)
            return owner, None
        self._c.records += 1
        if not is_in:
            self._c.other_class += 1
            return owner, None
        rdata = tokens[i:]
        if self._zone is None:
            soa_owner = None
            if kind == K_SOA and owner.endswith(".") and self._origin is None:
                found = absolute_name(owner, None)
                soa_owner = found if isinstance(found, str) else None
            self._set_zone(soa_owner)
        if kind == K_NS:
            if len(rdata) != 1 or rdata[0].startswith('"'):
                self._bad(line, Reason.BAD_RDATA, text)
                return owner, None
            name = self._name(owner, line, text)
            target = self._name(rdata[0], line, text) if name is not None else None
            if name is None or target is None:
                return owner, None
            return owner, (kind, name, target)
        if kind == K_DS:
            if len(rdata) < 4 or not all(t.isdigit() and t.isascii() for t in rdata[:3]):
                self._bad(line, Reason.BAD_RDATA, text)
                return owner, None
            name = self._name(owner, line, text)
            if name is None:
                return owner, None
            return owner, (kind, name, None)
        return owner, None

    def _careful_at(self, b: bytes, off: int, final: bool) -> int | None:
        """Read the record that starts at byte ``off`` of the block; return where the next starts.

        None when a parenthesis is still open at the end of a block that is not the last: the
        caller keeps the rest of the block and calls again with more.
        """
        nl = b.find(b"\n", off)
        raw = b[off:nl]
        line = self._lineno + 1
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            self._bad(line, Reason.BAD_ENCODING, raw)
            self._lineno = line
            return nl + 1
        toks: list[str] = []
        depth, err = tokenize(text, 0, toks)
        end = nl + 1
        used = 1
        size = len(raw)
        while depth > 0 and err is None:
            if used - 1 >= MAX_PAREN_LINES or size > MAX_PAREN_BYTES:
                err = Reason.UNBALANCED_PARENS
                break
            if end >= len(b):
                if not final:
                    return None
                err = Reason.UNBALANCED_PARENS
                break
            nl2 = b.find(b"\n", end)
            more = b[end:nl2]
            used += 1
            size += len(more)
            end = nl2 + 1
            try:
                more_text = more.decode("utf-8")
            except UnicodeDecodeError:
                err = Reason.BAD_ENCODING
                break
            depth, err = tokenize(more_text, depth, toks)
        if err is not None:
            self._bad(line, err, text)
            if err == Reason.UNBALANCED_PARENS and used > 1:
                self._lineno = line  # the opening line is dropped, the rest read again
                return nl + 1
            self._lineno = line + used - 1
            return end
        self._lineno = line + used - 1
        if toks:
            owner, rec = self._careful(toks, text[:1] not in (" ", "\t"), self._tok, line, text)
            self._tok = owner
            if rec is not None:
                self._record(rec[1], rec[2], line, text)
        return end

    # -- groups --

    def _record(self, name: str, target: str | None, line: int, text: str) -> None:
        """One NS (with its target) or DS (target None) record of ``name``, read carefully."""
        if name != self._cur:
            self._close()
            zone = self._zone or "."
            if name == zone:
                self._c.apex_records += 1
                return
            if not is_subdomain(name, zone):
                self._bad(line, Reason.OUT_OF_ZONE, text)
                return
            self._cur = name
            self._cur_ns = []
            self._cur_ds = False
            self._cur_line = line
        if target is not None:
            ns = self._cur_ns
            if target not in ns:
                if len(ns) < self._max_ns:
                    ns.append(target)
                else:
                    self._c.ns_cut += 1
        else:
            self._cur_ds = True

    def _close(self) -> None:
        if self._cur is not None:
            self._emit(self._cur, self._cur_ns, self._cur_ds, self._cur_line)
            self._cur = None

    def _emit(self, name: str, ns: Iterable[str], has_ds: bool, line: int) -> None:
        window = self._window
        if window is None:
            self._finish(name, ns, has_ds, line)
            return
        prev = window.get(name)
        if prev is None:
            window[name] = (set(ns), has_ds, line)
        else:
            kept = prev[0]
            for target in sorted(set(ns) - kept):  # sorted: the same on every engine
                if len(kept) < self._max_ns:
                    kept.add(target)
                else:
                    self._c.ns_cut += 1
            window[name] = (kept, prev[1] or has_ds, prev[2])
            window.move_to_end(name)
        while len(window) > self.options.lru_window:
            old, (ons, ods, oline) = window.popitem(last=False)
            self._finish(old, ons, ods, oline)

    def _finish(self, name: str, ns: Iterable[str], has_ds: bool, line: int) -> None:
        servers = tuple(sorted(set(ns)))
        if not servers:
            self._c.ds_without_ns += 1
            if not self.options.emit_ds_only:
                return
        self._c.delegations += 1
        self._out.append(_new(Delegation, (name, self._zone or ".", servers, has_ds, line)))

    # -- compiled fast path --

    def _c_ok(self) -> bool:
        origin, zone = self._origin, self._zone
        return (
            self.engine == "c"
            and origin is not None
            and zone is not None
            and "\\" not in origin
            and "\\" not in zone
        )

    def _fast_c(self, b: bytes, pos: int) -> int:
        """Read the simple lines of ``b`` from ``pos`` in C; return where the first other line
        starts (or the end). The open group goes to C and comes back."""
        origin, zone = self._origin, self._zone
        assert origin is not None and zone is not None
        raw = self._c_mode == zonec.MODE_RAW
        out: list[Any] = [] if raw else self._out
        group = (self._cur, self._cur_ns, self._cur_ds, self._cur_line)
        r = zonec.scan(b, pos, self._lineno, origin, zone, group, out, self._c_mode, self._max_ns)
        self._lineno = r.lineno
        c = self._c
        c.records += r.records
        c.ns_cut += r.ns_cut
        c.delegations += r.delegations
        c.ds_without_ns += r.ds_without_ns
        if r.tok_start >= 0:
            self._tok = b[r.tok_start : r.tok_end].decode("ascii")
        self._cur, self._cur_ns, self._cur_ds, self._cur_line = (
            r.cur,
            r.cur_ns,
            r.cur_ds,
            r.cur_line,
        )
        if raw:
            for name, ns, has_ds, line in out:
                self._emit(name, ns, has_ds, line)
        return r.pos

    # -- numpy fast path --

    def _fast_ok(self) -> bool:
        return (
            not self.options.strict
            and self._zone is not None
            and self._origin is not None
            and self._last_class_in
        )

    def _fast(self, b: bytes, pos: int, final: bool) -> tuple[int, bool]:
        """Read the lines of ``b`` from ``pos`` with the fast path and the special lines between.

        Returns where to go on (the end, or after a record that changed the origin or class or
        spanned lines the fast path had read), and whether that record needs the next block.
        """
        origin, zone = self._origin, self._zone
        assert origin is not None and zone is not None
        end = len(b)
        if pos + self._span < end:  # after a restart: a small window first
            end = b.rfind(b"\n", pos, pos + self._span) + 1 or end
        sub = b[pos:end] if pos or end < len(b) else b
        from producer import zonefast

        self._span = min(2 * self._span, BLOCK_BYTES)
        plan = zonefast.plan_block(sub, origin, zone)
        base = self._lineno
        starts = plan.line_starts
        special = plan.special
        gl = plan.gl
        ngroups = len(plan.names)
        rec_cum = plan.rec_cum
        done_line = 0  # lines [0, done_line) are read
        g = 0  # groups [0, g) are emitted or open
        k = 0
        nspecial = len(special)
        while True:
            stop = special[k] if k < nspecial else plan.nlines
            # the groups that start before `stop`
            g_end = g
            while g_end < ngroups and gl[g_end] < stop:
                g_end += 1
            if g_end > g:
                self._groups(plan, g, g_end, base)
                g = g_end
            self._c.records += int(rec_cum[stop] - rec_cum[done_line])
            if k >= nspecial:
                self._set_tok(sub, plan, done_line, plan.nlines)
                self._lineno = base + plan.nlines
                return pos + len(sub), False
            # one special line, read carefully
            self._set_tok(sub, plan, done_line, stop)
            self._lineno = base + stop
            origin_before = self._origin
            nxt = self._careful_at(sub, starts[stop], final and end == len(b))
            if nxt is None:
                if end < len(b):  # the record goes on past the window: read it in the block
                    whole = self._careful_at(b, pos + starts[stop], final)
                    if whole is None:
                        return pos + starts[stop], True
                    self._span = _RESTART_SPAN
                    return whole, False
                return pos + starts[stop], True
            used_to = self._lineno - base  # lines [0, used_to) are now read
            k += 1
            if (
                self._origin != origin_before
                or not self._last_class_in
                or (used_to < plan.nlines and not _all_special(plan, stop, used_to))
            ):
                self._span = _RESTART_SPAN
                return pos + nxt, False
            while k < nspecial and special[k] < used_to:
                k += 1
            done_line = used_to
            while g < ngroups and gl[g] < used_to:
                g += 1  # inside a record that spanned lines (not reached: those are special)

    def _fast_no_gc(self, b: bytes, pos: int, final: bool) -> tuple[int, bool]:
        """:meth:`_fast` with the cycle collector paused: a block makes tens of thousands of
        tuples and no cycles, and each collection would walk every object of the process."""
        with gc_tuning.paused():
            return self._fast(b, pos, final)

    def _set_tok(self, sub: bytes, plan: zonefast.Plan, lo: int, hi: int) -> None:
        """The owner in force after the fast lines [lo, hi): the last one's first token."""
        if hi <= lo:
            return
        j = int(plan.last_owner[hi - 1])
        if j >= lo and not plan.special_mask[j]:
            s, e = plan.owner_spans
            self._tok = sub[int(s[j]) : int(e[j])].decode("ascii")

    def _groups(
        self,
        plan: zonefast.Plan,
        lo: int,
        hi: int,
        base: int,
    ) -> None:
        """Groups [lo, hi) of a plan, in order: the first may continue the open group, the last
        stays open (a later record of the same owner may follow)."""
        names, servers, has_ds, gl = plan.names, plan.servers, plan.has_ds, plan.gl
        if self._cur is not None and names[lo] == self._cur:
            self._more_ns(plan, lo)
            self._cur_ds = self._cur_ds or has_ds[lo]
            lo += 1
        if lo >= hi:
            return
        self._close()
        last = hi - 1
        if plan.simple and plan.max_count <= self._max_ns and self._window is None and last > lo:
            zone = self._zone
            lines = [x + base + 1 for x in gl[lo:last]]
            self._out.extend(
                map(
                    _new,
                    repeat(Delegation),
                    zip(names[lo:last], repeat(zone), servers[lo:last], has_ds[lo:last], lines),
                )
            )
            self._c.delegations += last - lo
        else:
            for i in range(lo, last):
                if self._cur is not None and names[i] == self._cur:
                    self._more_ns(plan, i)
                    self._cur_ds = self._cur_ds or has_ds[i]
                    continue
                self._close()
                self._cur, self._cur_ns = names[i], []
                self._more_ns(plan, i)
                self._cur_ds, self._cur_line = has_ds[i], gl[i] + base + 1
            if self._cur is not None and names[last] == self._cur:
                self._more_ns(plan, last)
                self._cur_ds = self._cur_ds or has_ds[last]
                return
            self._close()
        self._cur, self._cur_ns = names[last], []
        self._more_ns(plan, last)
        self._cur_ds, self._cur_line = has_ds[last], gl[last] + base + 1

    def _more_ns(self, plan: zonefast.Plan, g: int) -> None:
        """The NS targets of the plan's group ``g`` into the open group: the first distinct
        ones up to ``max_ns`` (in record order), the others counted as cut."""
        ns = self._cur_ns
        count = plan.ns_counts[g]
        if not ns and count <= self._max_ns:  # nothing can be cut: the group's distinct set
            ns.extend(plan.servers[g])
            return
        seen = set(ns)
        start = plan.ns_starts[g]
        for target in plan.ns_names[start : start + count]:
            if target in seen:
                continue
            if len(ns) < self._max_ns:
                ns.append(target)
                seen.add(target)
            else:
                self._c.ns_cut += 1

    # -- the loop --

    def parse_blocks(
        self, blocks: Iterable[bytes], byte_count: Callable[[], int]
    ) -> Iterator[Delegation]:
        """The delegations of the zone given as blocks of whole lines, lazily.

        Every block but the last must end with ``\\n``; ``byte_count`` tells how many bytes the
        source has read so far. The iterator has ``close()``, like a generator's.
        """
        source = self._block_lists(blocks, byte_count)
        it = cast(_Delegations, _Delegations.from_iterable(source))
        it.source = source
        return it

    def _block_lists(
        self, blocks: Iterable[bytes], byte_count: Callable[[], int]
    ) -> Generator[list[Delegation], None, None]:
        """The delegations of each block as one list (flattened by :class:`_Delegations`)."""
        carry = b""
        it = iter(blocks)
        block, damage = _next_block(it)
        while block is not None:
            following, damage = _next_block(it) if damage is None else (None, damage)
            final = following is None
            b = carry + block if carry else block
            carry = b""
            if final and b and not b.endswith(b"\n"):
                b += b"\n"
            pos = 0
            n = len(b)
            while pos < n:
                if self._fast_ok() and self._c_ok():
                    pos = self._fast_c(b, pos)
                    if pos >= n:
                        break
                    r = self._careful_at(b, pos, final)  # the line C left: read it carefully
                    if r is None:
                        carry = b[pos:]
                        break
                    pos = r
                    continue
                if self._fast_ok():
                    pos, more = self._fast_no_gc(b, pos, final)
                    if more:
                        carry = b[pos:]
                        break
                    continue
                r = self._careful_at(b, pos, final)
                if r is None:
                    carry = b[pos:]
                    break
                pos = r
            if self._out:
                out, self._out = self._out, []
                yield out
            block = following
        self._c.lines = self._lineno
        self._c.bytes_read = byte_count()
        if damage is not None and damage.stopped:
            self._cur = None  # its records may go on past the damage: not a whole delegation
        self._close()
        window = self._window
        if window is not None:
            while window:
                old, (ons, ods, oline) = window.popitem(last=False)
                self._finish(old, ons, ods, oline)
        if self._out:
            out, self._out = self._out, []
            yield out
        if damage is not None:
            damage.lines = self._lineno
            raise damage

    def parse(
        self, lines: Iterable[bytes], byte_count: Callable[[], int] | None = None
    ) -> Iterator[Delegation]:
        """Yield the delegations of the zone whose lines (with or without ``\\n``) are given."""
        box = [0]

        def blocks() -> Iterator[bytes]:
            buf: list[bytes] = []
            size = 0
            for line in lines:
                box[0] += len(line)
                if not line.endswith(b"\n"):
                    line += b"\n"
                buf.append(line)
                size += len(line)
                if size >= BLOCK_BYTES:
                    yield b"".join(buf)
                    buf = []
                    size = 0
            if buf:
                yield b"".join(buf)

        return self.parse_blocks(blocks(), byte_count or (lambda: box[0]))


class _Delegations(chain[Delegation]):
    """The delegations of a parse: the lists of the blocks chained, so that taking the next one
    runs no Python code; ``close()`` closes the source (and the file) as a generator's would."""

    source: Generator[list[Delegation], None, None]

    def close(self) -> None:
        self.source.close()


def _next_block(it: Iterator[bytes]) -> tuple[bytes | None, InputDamaged | None]:
    """The next block, or None at the end or at the damage (returned then)."""
    try:
        return next(it, None), None
    except InputDamaged as damage:
        return None, damage


def _all_special(plan: zonefast.Plan, lo: int, hi: int) -> bool:
    """True when lines [lo, hi) are all special (a record spanning lines did not eat fast ones)."""
    return bool(plan.special_mask[lo:hi].all())
