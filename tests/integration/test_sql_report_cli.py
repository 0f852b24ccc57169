"""``danescan sql`` and ``danescan report`` as a user meets them, on a real scan of the session's
lab: one snapshot in chdb (the embedded default) and the same lab in the session's
clickhouse-server. Every command runs in its own process, as a user runs it (chdb opens a data
directory in one process only), so this process never opens the chdb directory itself.

Expectations come from the lab's truth (domains per TLD, MX hosts) or from the database read
another way (the scans table through ``sql``), never written by hand."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lab.truthfile import Truth
from tests.integration.lab_fixtures import LabHandle

pytestmark = [pytest.mark.lab, pytest.mark.clickhouse, pytest.mark.slow]


def danescan(*args: str, stdin: str | None = None,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "danescan.cli", *args], capture_output=True,
                          text=True, timeout=600, check=False, input=stdin, env=env)


@dataclass
class Scanned:
    target: str  # the --db value
    scan_id: str
    truth: Truth


def _scan(lab: LabHandle, target: str, scan_id: str) -> Scanned:
    truth = lab.truth()  # the hour scanned: other tests of the session may advance the lab
    r = danescan("scan", *(str(p) for p in lab.zone_files), "--resolver", lab.resolver,
                 "--trust-anchor", str(lab.trust_anchor), "--db", target, "--scan-id", scan_id,
                 "--public-roots", str(lab.dir / "pki" / "public-roots.pem"), "--no-progress")
    assert r.returncode == 0, r.stderr
    return Scanned(target, scan_id, truth)


@pytest.fixture(scope="module")
def chdb_scan(lab: LabHandle, tmp_path_factory: pytest.TempPathFactory) -> Scanned:
    return _scan(lab, str(tmp_path_factory.mktemp("sql") / "db"), "one")


def _one_error_line(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("danescan: ")
    return r.stderr.strip()


def test_sql_answers_from_the_scan_with_parameters(chdb_scan: Scanned, tmp_path: Path) -> None:
    want = Counter(d["tld"] for d in chdb_scan.truth.domains.values())
    sql = ("SELECT tld, count() AS domains FROM domains FINAL WHERE scan_id = {s:String} "
           "GROUP BY tld ORDER BY tld")
    r = danescan("sql", sql, "--db", chdb_scan.target, "--param", f"s={chdb_scan.scan_id}",
                 "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    assert {row["tld"]: row["domains"] for row in map(json.loads, r.stdout.splitlines())} == want

    # the same from standard input and from a file, two statements, TSV
    script = ("-- MX hosts of the scan; one a line\nSELECT DISTINCT arrayJoin(mx) AS host\n"
              "FROM domains FINAL WHERE scan_id = {s:String} ORDER BY host;\n"
              "SELECT 'done;' AS \"end;\"")
    hosts = sorted({h for d in chdb_scan.truth.domains.values() for h in d["mx"]})
    file = tmp_path / "hosts.sql"
    file.write_text(script)
    for args, stdin in ((["-"], script), ([], script), (["-f", str(file)], None)):
        r = danescan("sql", *args, "--db", chdb_scan.target, "--param", f"s={chdb_scan.scan_id}",
                     "--format", "tsv", stdin=stdin)
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines() == ["host", *hosts, "end;", "done;"]


def test_parquet_and_arrow_files_read_back(chdb_scan: Scanned, tmp_path: Path) -> None:
    sql = ("SELECT mx_host, ip, valid, reason, verified_at FROM dane_verdicts FINAL "
           "WHERE scan_id = {s:String} ORDER BY mx_host, ip")
    common = ["--db", chdb_scan.target, "--param", f"s={chdb_scan.scan_id}"]
    r = danescan("sql", sql, *common, "--format", "json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["rows"]
    assert len(rows) > 10
    for fmt, read in (("parquet", pq.read_table),
                      ("arrow", lambda p: pa.ipc.open_file(pa.memory_map(str(p))).read_all())):
        out = tmp_path / f"r.{fmt}"
        r = danescan("sql", sql, *common, "--format", fmt, "-o", str(out))
        assert r.returncode == 0, r.stderr
        table = read(out)
        assert table.column_names == ["mx_host", "ip", "valid", "reason", "verified_at"]
        assert table.schema.field("valid").type == pa.uint8()
        at = table.schema.field("verified_at").type  # Parquet has no seconds unit: ms there
        assert pa.types.is_timestamp(at) and at.tz == "UTC"
        back = [{**rec, "verified_at": rec["verified_at"].strftime("%Y-%m-%dT%H:%M:%SZ")}
                for rec in table.to_pylist()]
        assert back == rows
    # a String that is not UTF-8 (DER, digests) stays bytes, a DateTime stays a time
    out = tmp_path / "raw.arrow"
    r = danescan("sql", "SELECT unhex('ff00') AS raw, 'é' AS text, toDateTime(0, 'UTC') AS t",
                 "--db", chdb_scan.target, "--format", "arrow", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert pa.ipc.open_file(pa.memory_map(str(out))).read_all().to_pylist() == [
        {"raw": b"\xff\x00", "text": "é", "t": dt.datetime(1970, 1, 1, tzinfo=dt.UTC)}]
    # to a pipe without -o
    r = subprocess.run([sys.executable, "-m", "danescan.cli", "sql", sql, *common, "--format",
                        "parquet"], capture_output=True, timeout=600, check=False)
    assert r.returncode == 0, r.stderr
    assert pq.read_table(io.BytesIO(r.stdout)).num_rows == len(rows)


def test_read_only_unless_write(chdb_scan: Scanned, tmp_path: Path) -> None:
    count = ["sql", "SELECT count() FROM scans", "--db", chdb_scan.target, "--format", "csv"]
    before = danescan(*count).stdout
    line = _one_error_line(danescan("sql", "INSERT INTO scans SELECT * FROM scans", "--db",
                                    chdb_scan.target))
    assert "INSERT" in line and "--write" in line
    line = _one_error_line(danescan("sql", "SELECT 1; DROP TABLE scans", "--db", chdb_scan.target))
    assert "DROP" in line
    # the engine itself is read-only too (a statement we do not refuse by its first word)
    line = _one_error_line(danescan("sql", "SELECT 1 SETTINGS max_threads = 1", "--db",
                                    chdb_scan.target))
    assert "readonly" in line.lower()
    assert danescan(*count).stdout == before

    scratch = tmp_path / "scratch"
    r = danescan("sql", "CREATE TABLE notes (n UInt8) ENGINE = MergeTree ORDER BY n; "
                 "INSERT INTO notes VALUES (7); SELECT n FROM notes", "--db", str(scratch),
                 "--write", "--format", "csv")
    assert _one_error_line(r)  # no database there yet: sql never creates one
    scratch.mkdir()
    r = danescan("sql", "CREATE TABLE notes (n UInt8) ENGINE = MergeTree ORDER BY n; "
                 "INSERT INTO notes VALUES (7); SELECT n FROM notes", "--db", str(scratch),
                 "--write", "--format", "csv")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["n", "7"]


def test_bad_sql_and_bad_parameters_are_one_line(chdb_scan: Scanned) -> None:
    db = ["--db", chdb_scan.target]
    line = _one_error_line(danescan("sql", "SELECT *\nFORM domains", *db))
    assert "Syntax error" in line and "line 2" in line
    line = _one_error_line(danescan("sql", "SELECT no_such_column FROM domains", *db))
    assert "no_such_column" in line
    line = _one_error_line(danescan("sql", "SELECT {n:UInt32}", *db))
    assert "--param n=<UInt32>" in line
    line = _one_error_line(danescan("sql", "SELECT {n:UInt32}", *db, "--param", "n=x"))
    assert "UInt32" in line
    line = _one_error_line(danescan("sql", "SELECT 1", *db, "--param", "n=1"))
    assert "'n'" in line
    line = _one_error_line(danescan("sql", "SELECT 1", "--db", str(Path(chdb_scan.target) / "x")))
    assert "no database" in line
    line = _one_error_line(danescan("sql", "-- only a comment;", *db))
    assert "no SQL statement" in line
    line = _one_error_line(danescan("sql", "-f", str(Path(chdb_scan.target) / "none.sql"), *db))
    assert "none.sql" in line
    line = _one_error_line(danescan("sql", "SELECT 1; SELECT 2", *db, "--format", "arrow"))
    assert "one statement" in line


class Terminal:
    """``danescan sql`` on a pseudo-terminal, as a person at a keyboard runs it."""

    def __init__(self, args: list[str], home: Path) -> None:
        env = {**os.environ, "HOME": str(home), "TERM": "dumb"}
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: never returns
            os.execvpe(sys.executable, [sys.executable, "-m", "danescan.cli", *args], env)
        self.seen = ""

    def expect(self, text: str, timeout: float = 120.0) -> str:
        """Everything read until ``text`` appears (after what an earlier expect consumed)."""
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"no {text!r} in {self.seen[-2000:]!r}"
            ready, _, _ = select.select([self.fd], [], [], min(left, 1.0))
            if ready:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                self.seen += chunk.decode(errors="replace").replace("\r\n", "\n")
        assert text in self.seen, self.seen[-2000:]
        before, _, self.seen = self.seen.partition(text)
        return before

    def send(self, line: str) -> None:
        os.write(self.fd, line.encode() + b"\n")

    def close(self) -> int:
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        return os.waitstatus_to_exitcode(status)


def _rows(screen: str) -> list[list[str]]:
    """The rows of a table printed by the prompt (after its header and rule)."""
    lines = [x for x in screen.splitlines() if x.strip()]
    rule = next(i for i, x in enumerate(lines) if set(x.replace(" ", "")) == {"-"})
    return [x.split() for x in lines[rule + 1:] if not re.match(r"\d+ rows? in ", x)]


def test_interactive_prompt_multi_line_query_and_history(chdb_scan: Scanned,
                                                         tmp_path: Path) -> None:
    want = sorted([tld, str(n)] for tld, n in
                  Counter(d["tld"] for d in chdb_scan.truth.domains.values()).items())
    term = Terminal(["sql", "--db", chdb_scan.target], tmp_path)
    banner = term.expect("danescan :) ")
    assert "read-only" in banner
    term.send("SELECT tld, count() AS n")
    term.expect(":-] ")
    term.send("FROM domains FINAL  -- every domain of the scan")
    term.expect(":-] ")
    term.send("GROUP BY tld ORDER BY tld;")
    screen = term.expect("danescan :) ")
    assert _rows(screen) == want
    term.send("SELEC 1;")  # an error: one line, and the prompt goes on
    screen = term.expect("danescan :) ")
    assert "danescan: " in screen and "Traceback" not in screen
    term.send("exit")
    assert term.close() == 0
    history = (tmp_path / ".danescan_history").read_text().splitlines()
    assert history[-2:] == ["SELECT tld, count() AS n FROM domains FINAL GROUP BY tld ORDER BY tld;",
                            "SELEC 1;"]

    # a new session recalls the multi-line statement as one history entry (two steps up)
    term = Terminal(["sql", "--db", chdb_scan.target], tmp_path)
    term.expect("danescan :) ")
    os.write(term.fd, b"\x1b[A\x1b[A\n")
    assert _rows(term.expect("danescan :) ")) == want
    os.write(term.fd, b"\x04")  # Ctrl-D
    assert term.close() == 0


def test_sql_on_clickhouse_server(lab: LabHandle, clickhouse_url: str) -> None:
    """The same command on a server (Debian's 18.16): read-only by the server's own setting,
    --write allowed, and a clear line for query parameters, which 18.16 does not know."""
    scanned = _scan(lab, clickhouse_url, "srv")
    want = Counter(d["tld"] for d in scanned.truth.domains.values())
    sql = "SELECT tld, count() AS n FROM domains FINAL WHERE scan_id = 'srv' GROUP BY tld"
    r = danescan("sql", sql, "--db", clickhouse_url, "--format", "csv")
    assert r.returncode == 0, r.stderr
    got = {}
    for line in r.stdout.splitlines()[1:]:
        tld, n = line.split(",")
        got[tld.strip('"')] = int(n)
    assert got == want

    line = _one_error_line(danescan("sql", "INSERT INTO scans SELECT * FROM scans", "--db",
                                    clickhouse_url))
    assert "--write" in line
    line = _one_error_line(danescan("sql", "SELECT 1 SETTINGS max_threads = 1", "--db",
                                    clickhouse_url))
    assert "readonly" in line.lower()
    line = _one_error_line(danescan("sql", "SELECT {n:UInt8}", "--param", "n=1", "--db",
                                    clickhouse_url))
    assert "query parameters" in line
    line = _one_error_line(danescan("sql", "SELECT *\nFORM domains", "--db", clickhouse_url))
    assert "Syntax error" in line and "line 2" in line

    line = _one_error_line(danescan("sql", "INSERT INTO notes VALUES (7)", "--db", clickhouse_url,
                                    "--write"))
    assert "INSERT INTO t SELECT" in line  # no hang: the driver cannot send inline rows
    r = danescan("sql", "CREATE TABLE notes (n UInt8) ENGINE = MergeTree ORDER BY n; "
                 "INSERT INTO notes SELECT 7; SELECT n FROM notes", "--db", clickhouse_url,
                 "--write", "--format", "tsv")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["n", "7"]


def test_report_of_one_snapshot_reads_well(chdb_scan: Scanned, tmp_path: Path) -> None:
    """Last of the chdb tests in this module: the summary first, the real scan id and time in
    the title, the empty rollover figure saying what it needs, and every link resolving."""
    r = danescan("sql", "SELECT scan_id, started_at FROM scans FINAL", "--db", chdb_scan.target,
                 "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    (scan,) = [json.loads(x) for x in r.stdout.splitlines()]
    assert scan["scan_id"] == chdb_scan.scan_id

    out = tmp_path / "report"
    r = danescan("report", "--db", chdb_scan.target, "--out", str(out))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"danescan report: scan {scan['scan_id']}"
    assert lines[1] == f"history: 1 scan, {scan['scan_id']} ({scan['started_at']})"
    assert lines[3].startswith("Table 1")
    assert lines.index("== scans ==") > lines.index("Why DANE fails:")

    page = (out / "report.html").read_text()
    title = re.search(r"<h1>(.*?)</h1>", page)
    assert title and title.group(1) == f"danescan report: scan {scan['scan_id']} of {scan['started_at']}"
    assert "1970" not in page and "2105" not in page
    assert f"history: 1 scan, {scan['scan_id']} ({scan['started_at']})" in page
    # the summary opens the page: before the figures and before any table
    assert page.index("id='summary'") < page.index("id='figures'") < page.index("id='scans'")
    summary = page[page.index("id='summary'"):page.index("id='figures'")]
    tlds = sorted({d["tld"] for d in chdb_scan.truth.domains.values()})
    for tld in tlds:
        assert f"<td class=''>.{tld}</td>" in summary
    assert "needs two or more snapshots" in summary
    # the empty rollover tables say why, not just "0 rows"
    rollovers = page[page.index("id='rollovers'"):]
    assert "Key rollovers need two or more snapshots; this history holds 1" in rollovers
    # every in-page link has its anchor
    links = set(re.findall(r"href='#([^']+)'", page))
    anchors = set(re.findall(r"id='([^']+)'", page))
    assert links and links <= anchors, links - anchors
    assert {"tld_deployment", "management_validity", "mismatch_reasons",
            "dnssec_failure_reasons", "rollover_outcomes"} <= links
    assert (out / "rollover_outcomes.png").read_bytes()[:4] == b"\x89PNG"
