"""The fast path of the zone parser: one block of lines classified at once with numpy.

A block (whole lines, ending with ``\\n``) is looked at as an array of bytes. Every byte is mapped
to a class (token character, dot, blank, newline, special) with one ``bytes.translate``; token
boundaries, line boundaries and the shape of every line then come from array operations, and
Python objects are made only for what a delegation needs: one owner per delegation, one target
per NS record.

A line is taken by the fast path only when it is one of these shapes, in any case::

    OWNER TYPE RDATA...              OWNER TTL IN TYPE RDATA...

with TYPE one of NS (exactly one target), DS (three numbers, then the digest), A or AAAA (glue,
counted and dropped), TTL at most 8 digits, and the line made only of printable ASCII without
``( ) " ; \\``. Every other line is *special* and goes to the careful tokenizer, one at a time,
in order, with the state (origin, owner, open group) of the lines before it: directives,
comments, parentheses (and the lines they span), quotes, escapes, omitted owners, other classes
and types, TTL units, non-ASCII, names the fast rules cannot settle. A line the fast path takes
is one the careful path would accept with the same result, so both paths agree on delegations,
line numbers and malformed counts; ``tests/unit/test_zonefile_paths.py`` checks it.

What "malformed" means is therefore the same on both paths: the fast rules only decide lines they
can decide exactly like the careful path, and leave the rest. The price is speed, not accuracy: a
file made mostly of odd lines runs at the careful path's pace, and a line that changes the origin
or the class makes the rest of the block be planned again (in a 64 KiB window first).

Names are settled in bulk when they are plain (a relative single label, an absolute name one
label below the zone, targets of at most 63 characters without ``..``) and by
:func:`producer.names.absolute_name` otherwise; an owner or target that is refused there turns its
line special, so the careful path reports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import eq, itemgetter
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from producer.names import absolute_name, is_subdomain

_TOKEN: Final = 0
_BLANK: Final = 1
_SPECIAL: Final = 2  # part of a token, but the line goes to the careful path
_NEWLINE: Final = 3
_PAD: Final = b"\0" * 64  # so that 8-byte loads past the end stay inside the buffer
_CASE: Final = np.uint64(0x2020202020202020)
_MASK: Final = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], np.uint64)
_W_NS: Final = int.from_bytes(b"ns", "little")
_W_DS: Final = int.from_bytes(b"ds", "little")
_W_A: Final = int.from_bytes(b"a", "little")
_W_AAAA: Final = int.from_bytes(b"aaaa", "little")
_W_IN: Final = int.from_bytes(b"in", "little")

Array = NDArray[Any]


def _table() -> bytes:
    t = bytearray([_SPECIAL]) * 256
    for c in range(0x21, 0x7F):
        t[c] = _TOKEN
    for ch in '"();\\':
        t[ord(ch)] = _SPECIAL
    for ch in " \t\r\f\v":  # the careful tokenizer's blanks
        t[ord(ch)] = _BLANK
    t[10] = _NEWLINE
    return bytes(t)


_TABLE: Final = _table()


@dataclass(slots=True)
class Plan:
    """What the fast path found in one block. Lines are 0-based indices into the block."""

    nlines: int
    line_starts: list[int]  # byte offset of each line, and len(block) at the end
    special: list[int]  # lines for the careful path, ascending
    special_mask: Array  # the same, as a bool array over the lines
    rec_cum: Array  # rec_cum[i]: records the fast path read in lines [0, i)
    last_owner: Array  # last line at or before i with an owner (-1: none)
    owner_spans: tuple[Array, Array]  # byte span of each line's first token
    group_lines: Array  # first line of each group of consecutive NS/DS records of one owner
    names: list[str]
    servers: list[tuple[str, ...]]  # sorted distinct NS targets of each group
    has_ds: list[bool]
    simple: bool  # no DS-only group and no two adjacent groups with one name
    gl: list[int]  # group_lines as a list
    ns_names: list[str]  # the NS targets of all groups, in record order
    ns_starts: list[int]  # where each group's targets start in ns_names
    ns_counts: list[int]  # NS records of each group
    max_count: int  # the most NS records of one group


def _words(w: Array, pos: Array, length: Array, nwords: int) -> list[Array]:
    """The first ``8 * nwords`` bytes of each token as masked 64-bit words (exact for short ones)."""
    out = []
    for j in range(nwords):
        k = np.clip(length - 8 * j, 0, 8)
        out.append(w[pos + 8 * j] & _MASK[k])
    return out


def _all_digits(w: Array, pos: Array, length: Array) -> Array:
    """True where the token at ``pos`` is 1 to 8 ASCII digits."""
    word = w[pos]
    mat = word.view(np.uint8).reshape(-1, 8)
    inside = np.arange(8) < length[:, None]
    ok = ((mat - 48) < 10) | ~inside
    return np.asarray(ok.all(axis=1) & (length >= 1) & (length <= 8))


def _mark_parens(b: bytes, nl: Array, dpos: Array, special: Array) -> None:
    """Lines that a ``(`` may continue onto are special too (up to the next ``)``)."""
    opens = [int(p) for p in dpos if b[p] == 40]
    if not opens:
        return
    closes = dpos[np.frombuffer(b, np.uint8)[dpos] == 41]
    nlines = len(nl)
    for p in opens:
        first = int(np.searchsorted(nl, p))
        after = closes[closes > p]
        last = int(np.searchsorted(nl, after[0])) if len(after) else nlines - 1
        special[first : last + 1] = True


def plan_block(b: bytes, origin: str, zone: str) -> Plan:
    """Classify the lines of ``b`` (whole lines, ending with a newline) and build its groups."""
    n = len(b)
    tb = b.translate(_TABLE)
    cls = np.frombuffer(tb, np.uint8)
    sep = cls & 1  # blank or newline
    flips = np.flatnonzero(sep[1:] != sep[:-1]) + 1
    if sep[0]:
        ts, te = flips[0::2], flips[1::2]
    else:
        ts, te = np.concatenate([[0], flips[1::2]]), flips[0::2]
    nl = np.flatnonzero(cls == _NEWLINE)
    nlines = len(nl)
    ls = np.empty(nlines, np.int64)
    ls[0] = 0
    ls[1:] = nl[:-1] + 1
    first = np.searchsorted(ts, ls)
    cnt = np.searchsorted(ts, nl) - first
    ends = np.full(6, n, np.int64)
    tsp = np.concatenate([ts, ends])
    tep = np.concatenate([te, ends])
    b = b.lower()  # names are lowercase; the careful path reads the block as it was
    bp = b + _PAD
    a = np.frombuffer(bp, np.uint8)
    w = np.ndarray((n + 57,), "<u8", buffer=bp, strides=(1,))

    has_owner = (cls[ls] & 1) == 0
    special = np.zeros(nlines, bool)
    if tb.find(b"\x02") >= 0:
        dpos = np.flatnonzero(cls == _SPECIAL)
        special[np.searchsorted(nl, dpos)] = True
        _mark_parens(b, nl, dpos, special)
    at = b.find(b"..")  # an empty label: the careful path reports it
    while at >= 0:
        special[int(np.searchsorted(nl, at))] = True
        at = b.find(b"..", int(nl[int(np.searchsorted(nl, at))]) + 1)

    # the shape of each line: OWNER [TTL IN] TYPE RDATA
    own_s = tsp[first]
    own_e = tep[first]
    p1 = first + 1
    s1 = tsp[p1]
    l1 = tep[p1] - s1
    shape_b = np.zeros(nlines, bool)
    cand = np.flatnonzero(has_owner & ((a[s1] - 48) < 10))
    if len(cand):
        s2 = tsp[p1[cand] + 1]
        l2 = tep[p1[cand] + 1] - s2
        ttl = _all_digits(w, s1[cand], l1[cand])
        word_in = (w[s2] | _CASE) & _MASK[2]
        shape_b[cand] = ttl & (l2 == 2) & (word_in == _W_IN)
    q = np.where(shape_b, first + 3, first + 1)
    sq = tsp[q]
    lq = tep[q] - sq
    tw = (w[sq] | _CASE) & _MASK[np.clip(lq, 0, 8)]
    span = q - first  # tokens before the type
    ok = has_owner & (a[own_s] != 36)  # "$": a directive
    is_ns = ok & (lq == 2) & (tw == _W_NS) & (cnt == span + 2)
    is_ds = ok & (lq == 2) & (tw == _W_DS) & (cnt >= span + 5)
    dsl = np.flatnonzero(is_ds)
    if len(dsl):
        good = np.ones(len(dsl), bool)
        for k in (1, 2, 3):
            pos = tsp[q[dsl] + k]
            good &= _all_digits(w, pos, tep[q[dsl] + k] - pos)
        is_ds[dsl[~good]] = False
    glue = ok & (((lq == 1) & (tw == _W_A)) | ((lq == 4) & (tw == _W_AAAA))) & (cnt >= span + 1)
    special |= ~(is_ns | is_ds | glue | (cnt == 0))

    while True:
        rec = (is_ns | is_ds | glue) & ~special
        rec_cum = np.zeros(nlines + 1, np.int64)
        np.cumsum(rec, out=rec_cum[1:])
        lines_r = np.flatnonzero((is_ns | is_ds) & ~special)
        spc = np.cumsum(special)
        os_ = own_s[lines_r]
        ol = own_e[lines_r] - os_
        keys = _words(w, os_, ol, 4)
        same = ol[1:] == ol[:-1]
        for key in keys:
            same &= key[1:] == key[:-1]
        seg = spc[lines_r]
        same &= seg[1:] == seg[:-1]
        for i in np.flatnonzero(same & (ol[1:] > 32)).tolist():
            x0, x1 = int(os_[i]), int(os_[i] + ol[i])
            y0, y1 = int(os_[i + 1]), int(os_[i + 1] + ol[i + 1])
            same[i] = b[x0:x1] == b[y0:y1]
        start = np.concatenate([[True], ~same]) if len(lines_r) else np.zeros(0, bool)
        gidx = np.flatnonzero(start)
        gid = np.cumsum(start) - 1
        ngroups = len(gidx)
        gs = os_[gidx]
        gl = ol[gidx]
        names, bad_groups = _owner_names(b, w, gs, gl, origin, zone)
        ns_lines = lines_r[is_ns[lines_r]]
        tq = q[ns_lines] + 1
        t_s = tsp[tq]
        t_e = tep[tq]
        targets = _Targets(b, w, t_s, t_e, origin)
        bad_targets = targets.bad
        newly = [int(lines_r[i]) for i in np.flatnonzero(np.isin(gid, bad_groups))]
        newly += [int(ns_lines[i]) for i in bad_targets]
        if newly:
            special[newly] = True
            continue
        break

    ns_gid = gid[is_ns[lines_r]]
    cntg = np.bincount(ns_gid, minlength=ngroups)
    ns_names = targets.all_names()
    servers = _servers(targets, ns_names, cntg)
    hd = np.zeros(ngroups, bool)
    hd[gid[is_ds[lines_r]]] = True
    simple = bool((cntg > 0).all()) and not any(map(eq, names[1:], names[:-1]))
    last_owner = np.maximum.accumulate(np.where(has_owner, np.arange(nlines), -1))
    return Plan(
        nlines=nlines,
        line_starts=[*ls.tolist(), n],
        special=np.flatnonzero(special).tolist(),
        special_mask=special,
        rec_cum=rec_cum,
        last_owner=last_owner,
        owner_spans=(own_s, own_e),
        group_lines=lines_r[gidx],
        names=names,
        servers=servers,
        has_ds=hd.tolist(),
        simple=simple,
        gl=lines_r[gidx].tolist(),
        ns_names=ns_names,
        ns_starts=(np.cumsum(cntg) - cntg).tolist(),
        ns_counts=cntg.tolist(),
        max_count=int(cntg.max()) if ngroups else 0,
    )


_WIDTH: Final = 6  # words: names up to 47 bytes (with the origin added) are made in bulk


class _Rows:
    """Tokens copied into fixed-width rows of bytes (the block was lowercased), so that names are
    made in bulk: the rows joined without their padding and split on newlines give one ``str``
    each. Relative names get their origin afterwards (see :func:`_complete`). Rows that do not fit
    or that the plain rules refuse are ``wrong`` (empty strings): the caller settles them.
    """

    def __init__(self, w: Array, pos: Array, length: Array, count_dots: bool = False) -> None:
        k = len(pos)
        words = np.empty((k, _WIDTH), np.uint64)
        for j in range(_WIDTH):
            words[:, j] = w[pos + 8 * j] & _MASK[np.clip(length - 8 * j, 0, 8)]
        u8 = words.view(np.uint8)
        self.ndots = (u8 == 46).sum(axis=1) if count_dots else None
        first = u8[:, 0]
        self.wrong = (
            (length >= 8 * _WIDTH)
            | (length == 0)
            | (first == 46)
            | (first == 64)  # "@": the origin, or a name that starts with it
        )
        u8[np.flatnonzero(self.wrong)] = 0
        u8[np.arange(k), np.where(self.wrong, 0, length)] = 10
        self.u8 = u8

    def joined(self, rows: Array | None = None) -> bytes:
        u8 = self.u8 if rows is None else self.u8[rows]
        flat = u8.reshape(-1)
        return bytes(flat[flat != 0].tobytes())

    def keys(self) -> Array:
        return self.u8.reshape(-1).view(f"S{8 * _WIDTH}")


def _complete(joined: bytes, relative: Array, suffix: bytes) -> list[str]:
    """The names of rows joined by newlines, with ``suffix`` added to the relative ones."""
    if relative.all():
        joined = joined.replace(b"\n", suffix + b"\n")
        relative = relative[:0]
    out: list[str] = joined.decode("ascii").split("\n")
    out.pop()
    sfx = suffix.decode("ascii")
    for i in np.flatnonzero(relative).tolist():
        out[i] += sfx
    return out


def _owner_names(
    b: bytes, w: Array, gs: Array, gl: Array, origin: str, zone: str
) -> tuple[list[str], list[int]]:
    """Canonical names of the group owners, and the groups whose owner the fast rules refuse."""
    ngroups = len(gs)
    if not ngroups:
        return [], []
    do_b = ("." + origin).encode() if origin != "." else b"."
    dot_zone = ("." + zone).encode() if zone != "." else b"."
    absolute = np.frombuffer(b + _PAD, np.uint8)[gs + gl - 1] == 46
    rows = _Rows(w, gs, gl, count_dots=True)
    nd = rows.ndots
    assert nd is not None
    in_zone = origin == zone or zone == "." or is_subdomain(origin, zone)
    ok = ~rows.wrong & ~absolute & (nd == 0) & (gl <= 63) & (gl + len(do_b) <= 254) & in_zone
    kz = len(dot_zone)
    cand = np.flatnonzero(~rows.wrong & absolute & (nd == dot_zone.count(b".")))
    cand = cand[(gl[cand] > kz) & (gl[cand] - kz <= 63)]
    if len(cand):
        match = np.ones(len(cand), bool)
        for j, c in enumerate(dot_zone):
            match &= rows.u8[cand, gl[cand] - kz + j] == c
        ok[cand[match]] = True
    names = _complete(rows.joined(), ~absolute & ~rows.wrong, do_b)
    bad: list[int] = []
    dot_zone_s = dot_zone.decode()
    for i in np.flatnonzero(~ok).tolist():
        s = int(gs[i])
        found = absolute_name(b[s : s + int(gl[i])].decode("ascii"), origin)
        if (
            isinstance(found, str)
            and found != zone
            and (found.endswith(dot_zone_s) or is_subdomain(found, zone))
        ):
            names[i] = found
        else:
            bad.append(i)
    return names, bad


class _Targets:
    """The NS targets of a block, in order: rows, which are relative, and those settled one by
    one (long names, ``@``...), or refused (``bad``)."""

    def __init__(self, b: bytes, w: Array, t_s: Array, t_e: Array, origin: str) -> None:
        self.suffix = ("." + origin).encode() if origin != "." else b"."
        tl = t_e - t_s
        self.rows = _Rows(w, t_s, tl)
        self.relative = (np.frombuffer(b + _PAD, np.uint8)[t_e - 1] != 46) & ~self.rows.wrong
        self.bad: list[int] = []
        self.slow: dict[int, str] = {}
        long_rel = self.relative & (tl + len(self.suffix) > 254)
        for i in np.flatnonzero(self.rows.wrong | (tl > 63) | long_rel).tolist():
            s = int(t_s[i])
            found = absolute_name(b[s : s + int(tl[i])].decode("ascii"), origin)
            if isinstance(found, str):
                self.slow[i] = found
            else:
                self.bad.append(i)

    def names(self, idx: Array | None = None) -> list[str]:
        rel = self.relative if idx is None else self.relative[idx]
        return _complete(self.rows.joined(idx), rel, self.suffix)

    def all_names(self) -> list[str]:
        out = self.names()
        for i, name in self.slow.items():
            out[i] = name
        return out


def _servers(targets: _Targets, names: list[str], cntg: Array) -> list[tuple[str, ...]]:
    """Sorted distinct NS sets of the groups, given their targets in order and their counts.

    Groups of two absolute targets (most of them) are ordered by comparing their rows; the others
    are made one by one.
    """
    ngroups = len(cntg)
    if not ngroups:
        return []
    starts = np.cumsum(cntg) - cntg
    plain = ~targets.relative & ~targets.rows.wrong
    if targets.slow:
        plain[list(targets.slow)] = False
    two = cntg == 2
    cand = np.flatnonzero(two)
    two[cand] = plain[starts[cand]] & plain[starts[cand] + 1]
    i2 = np.flatnonzero(two)
    keys = targets.rows.keys()
    a_ = starts[i2]
    lt = keys[a_] < keys[a_ + 1]
    lo = _pick(names, np.where(lt, a_, a_ + 1).tolist())
    hi = _pick(names, np.where(lt, a_ + 1, a_).tolist())
    pairs: list[tuple[str, ...]] = list(zip(lo, hi, strict=True))
    for i in np.flatnonzero(keys[a_] == keys[a_ + 1]).tolist():
        pairs[i] = pairs[i][:1]
    if len(i2) == ngroups:
        return pairs
    result = np.empty(ngroups, object)
    result[i2] = np.fromiter(pairs, object, len(pairs))
    for g in np.flatnonzero(~two).tolist():
        s, c = int(starts[g]), int(cntg[g])
        if c == 2:
            x, y = names[s], names[s + 1]
            result[g] = (x, y) if x < y else (y, x) if x != y else (x,)
        else:
            result[g] = tuple(sorted(set(names[s : s + c])))
    final: list[tuple[str, ...]] = result.tolist()
    return final


def _pick(seq: list[str], idx: list[int]) -> tuple[str, ...]:
    if len(idx) == 1:
        return (seq[idx[0]],)
    if not idx:
        return ()
    got: tuple[str, ...] = itemgetter(*idx)(seq)
    return got
