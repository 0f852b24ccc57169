"""SQL text without an engine: statements, their kind, and the engine's error made one line.

ClickHouse's lexical rules, as far as splitting needs them: '...' strings (backslash escapes and
doubled quotes), "..." and `...` identifiers, -- and # line comments, /* */ block comments.
A ';' inside any of these does not end a statement.
"""

from __future__ import annotations

import re

# What a read-only session may run (`danescan sql` without --write): the first keyword.
READ_ONLY = frozenset({"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "EXISTS"})
# Every other statement ClickHouse knows: refused before the engine sees it. A first word that is
# neither (a typo) goes to the engine, which is read-only too and says what is wrong with it.
STATEMENTS = frozenset({
    "INSERT", "CREATE", "ALTER", "DROP", "TRUNCATE", "RENAME", "OPTIMIZE", "SYSTEM", "SET", "KILL",
    "DETACH", "ATTACH", "DELETE", "UPDATE", "GRANT", "REVOKE", "BACKUP", "RESTORE", "EXCHANGE",
    "UNDROP", "MOVE", "USE", "CHECK", "WATCH", "BEGIN", "COMMIT", "ROLLBACK", "REPLACE", "UNSET"})

_CODE = re.compile(r"^(?:Code:\s*\d+\.?\s*)?(?:DB::Exception:\s*)?")
_POSITION = re.compile(r"failed at position (\d+)")
_REPEATED = re.compile(r"(\([A-Z_]+\))\.? \1$")
_VERSION = re.compile(r"\s*\(version [^)]*\)")


def _scan(text: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) of every quoted, commented or plain stretch; kind is one of
    'code', 'string', 'ident', 'comment'. An unterminated stretch runs to the end."""
    out: list[tuple[int, int, str]] = []
    i, n, start = 0, len(text), 0
    while i < n:
        c = text[i]
        two = text[i:i + 2]
        if c in "'\"`":
            end = _close_quote(text, i, c) or n
            kind = "string" if c == "'" else "ident"
        elif two == "--" or c == "#":
            nl = text.find("\n", i)
            end, kind = (n if nl < 0 else nl), "comment"
        elif two == "/*":
            close = text.find("*/", i + 2)
            end, kind = (n if close < 0 else close + 2), "comment"
        else:
            i += 1
            continue
        if start < i:
            out.append((start, i, "code"))
        out.append((i, end, kind))
        i = start = end
    if start < n:
        out.append((start, n, "code"))
    return out


def _close_quote(text: str, i: int, quote: str) -> int | None:
    """The index just past the quote closing the one at ``i``; None when it is not closed."""
    j, n = i + 1, len(text)
    while j < n:
        c = text[j]
        if c == "\\":
            j += 2
            continue
        if c == quote:
            if j + 1 < n and text[j + 1] == quote:  # doubled quote
                j += 2
                continue
            return j + 1
        j += 1
    return None


def _unterminated(text: str) -> bool:
    """True when the text ends inside a string, identifier or block comment."""
    parts = _scan(text)
    if not parts:
        return False
    start, end, kind = parts[-1]
    piece = text[start:end]
    if kind in ("string", "ident"):
        return _close_quote(piece, 0, piece[0]) is None
    return kind == "comment" and piece.startswith("/*") and not piece.endswith("*/")


def split_statements(text: str) -> list[str]:
    """The statements of ``text`` separated by ';' outside quotes and comments, stripped; pieces
    holding only comments and blanks are dropped."""
    out: list[str] = []
    current: list[str] = []
    for start, end, kind in _scan(text):
        piece = text[start:end]
        if kind != "code":
            current.append(piece)
            continue
        *done, rest = piece.split(";")
        for part in done:
            current.append(part)
            out.append("".join(current))
            current = []
        current.append(rest)
    out.append("".join(current))
    return [s.strip() for s in out if strip_comments(s).strip()]


def is_complete(text: str) -> bool:
    """True when ``text`` holds at least one statement and ends with ';' outside quotes and
    comments (trailing blanks and comments allowed): the end of input at an interactive prompt."""
    if _unterminated(text) or not split_statements(text):
        return False
    return strip_comments(text).rstrip().endswith(";")


def strip_comments(text: str) -> str:
    """``text`` without its comments (quoted text kept as it is)."""
    return "".join(text[s:e] if kind != "comment" else " " for s, e, kind in _scan(text))


def one_line(text: str) -> str:
    """A statement as one line (comments out, whitespace runs outside quotes made one space), for
    the history of the interactive prompt: recalled, it runs the same. A string that itself holds
    a line break keeps it."""
    parts: list[str] = []
    code: list[str] = []  # the code (and comments, as blanks) since the last quoted piece
    for s, e, kind in _scan(text):
        if kind in ("code", "comment"):
            code.append(text[s:e] if kind == "code" else " ")
            continue
        parts.append(re.sub(r"\s+", " ", "".join(code)))
        code = []
        parts.append(text[s:e])
    parts.append(re.sub(r"\s+", " ", "".join(code)))
    return "".join(parts).strip()


def inline_insert(sql: str) -> bool:
    """True for an INSERT that carries its rows in the statement (VALUES or FORMAT), outside
    quotes: clickhouse-driver cannot send those (the native protocol takes rows as blocks)."""
    if first_keyword(sql) != "INSERT":
        return False
    code = " ".join(sql[s:e] for s, e, kind in _scan(sql) if kind == "code")
    return re.search(r"\b(VALUES|FORMAT)\b", code, re.IGNORECASE) is not None


def placeholders(sql: str) -> set[str]:
    """The names of the ``{name:Type}`` query parameters of ``sql`` (outside comments)."""
    from queries.catalog import PARAM

    return {m.group("name") for m in PARAM.finditer(strip_comments(sql))}


def first_keyword(sql: str) -> str:
    """The statement's first word in upper case, past comments and opening parentheses
    ('(SELECT 1)' is a SELECT); '' when there is none."""
    m = re.match(r"[\s(]*([A-Za-z]+)", strip_comments(sql))
    return m.group(1).upper() if m else ""


def refused_read_only(sql: str) -> str:
    """The statement's keyword when a read-only session must refuse it ('' otherwise)."""
    keyword = first_keyword(sql)
    if keyword in STATEMENTS:
        return keyword
    code = " ".join(sql[s:e] for s, e, kind in _scan(sql) if kind == "code")
    if re.search(r"\bINTO\s+OUTFILE\b", code, re.IGNORECASE):  # readonly does not stop it
        return "INTO OUTFILE"
    return ""


def position(sql: str, pos: int) -> tuple[int, int]:
    """(line, column), both from 1, of ClickHouse's 'position N' (a 1-based byte offset)."""
    raw = sql.encode()
    before = raw[:max(pos - 1, 0)].decode(errors="replace")
    line = before.count("\n") + 1
    return line, len(before) - (before.rfind("\n") + 1) + 1


def engine_message(error: str, sql: str | None = None, limit: int = 300) -> str:
    """The engine's message as one line: the text up to its stack trace, without 'Code: N.
    DB::Exception:' and the version, whitespace made single, cut at ``limit`` characters; with
    the line and column in ``sql`` when the engine gives a position."""
    text = " ".join(error.split("Stack trace")[0].split())
    text = _VERSION.sub("", _CODE.sub("", text)).strip()
    text = _CODE.sub("", text).strip()  # chdb repeats the prefix when it wraps an error
    text = _REPEATED.sub(r"\1", text)
    if len(text) > limit:
        text = text[:limit - 3].rstrip() + "..."
    m = _POSITION.search(text)
    if m and sql is not None and not re.search(r"\(line \d+, col \d+\)", text):
        line, col = position(sql, int(m.group(1)))
        text = f"line {line}, column {col}: {text}"
    return text or "unknown error"
