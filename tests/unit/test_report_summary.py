"""The report's pure parts: the summary computed from analysis results (hand-built here), the
title's history, the sentence of an empty figure, TSV/JSON lines, and Arrow/Parquet output."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from danescan.report import columnar
from danescan.report.build import Selection
from danescan.report.figures import empty_reason
from danescan.report.headline import headlines, table1, table1_cells, text
from danescan.report.render import to_jsonl, to_tsv
from queries.run import Result

T0 = dt.datetime(2026, 11, 30, 19, tzinfo=dt.UTC)


def result(name: str, rows: list[dict[str, Any]], types: dict[str, str] | None = None) -> Result:
    columns = list(rows[0]) if rows else []
    return Result(name, columns, [(types or {}).get(c, "String") for c in columns],
                  [tuple(r[c] for c in columns) for r in rows], {})


def sample() -> dict[str, Result]:
    tld = [{"tld": "com", "domains": 200, "with_tlsa": 50, "invalid_domains": 5,
            "tlsa_mx_hosts": 20, "invalid_mx_hosts": 8},
           {"tld": "xyz", "domains": 100, "with_tlsa": 0, "invalid_domains": 0,
            "tlsa_mx_hosts": 0, "invalid_mx_hosts": 0},
           {"tld": "all", "domains": 300, "with_tlsa": 50, "invalid_domains": 5,
            "tlsa_mx_hosts": 20, "invalid_mx_hosts": 8}]
    classes = [{"class": "SO", "domains": 40, "valid": 39}, {"class": "SSDS", "domains": 10,
                                                            "valid": 6}]
    dnssec = [{"status": "insecure", "reason": "missing-ds", "mx_hosts": 3},
              {"status": "bogus", "reason": "signature-expired", "mx_hosts": 1},
              {"status": "secure", "reason": "", "mx_hosts": 16}]
    mismatch = [{"reason": "matches-old-certificate", "mx_hosts": 3},
                {"reason": "no-match", "mx_hosts": 1}, {"reason": "no-starttls", "mx_hosts": 2}]
    cdf = [{"validity": "valid", "domains_served": 1, "domains": 10},
           {"validity": "valid", "domains_served": 20_000, "domains": 30},
           {"validity": "invalid", "domains_served": 1, "domains": 4},
           {"validity": "invalid", "domains_served": 3, "domains": 6}]
    rollovers = [{"dimension": "hosts", "outcome": "judged", "changes": 8},
                 {"dimension": "hosts", "outcome": "wrong-at-least-once", "changes": 6},
                 {"dimension": "hosts", "outcome": "ignored-ttl", "changes": 2},
                 {"dimension": "all", "outcome": "correct", "changes": 5}]
    ca = [{"kind": "ca-issued", "mx_hosts": 15}, {"kind": "self-signed", "mx_hosts": 5}]
    return {"tld_deployment": result("tld_deployment", tld),
            "management_validity": result("management_validity", classes),
            "dnssec_failure_reasons": result("dnssec_failure_reasons", dnssec),
            "mismatch_reasons": result("mismatch_reasons", mismatch),
            "mx_domains_cdf": result("mx_domains_cdf", cdf),
            "rollover_outcomes": result("rollover_outcomes", rollovers),
            "ca_reliance": result("ca_reliance", ca)}


def by_measure(snapshots: int = 3) -> dict[str, str]:
    return {h.measure: h.ours for h in headlines(sample(), snapshots)}


def test_table1_per_tld_then_all_with_the_papers_shares() -> None:
    rows = table1(sample())
    assert [r.tld for r in rows] == [".com", ".xyz", "all"]
    com = rows[0]
    assert (com.with_tlsa_share, com.mx_hosts_invalid, com.domains_invalid) == \
        ("25.0 %", "40.0 %", "10.0 %")
    assert com.paper == ("0.97 %", "over 22 %", "0.51 %")
    xyz = table1_cells(rows[1])  # a TLD without TLSA: nothing divided by zero, no paper figure
    assert xyz[5:] == ("0", "none to count", "-", "none to count", "-")


def test_headlines_compute_shares_from_the_results() -> None:
    got = by_measure()
    assert got["validity of SO domains"] == "97.5 % valid, 2.5 % invalid (40 domains)"
    assert got["validity of SSDO domains"] == "no domain in this class"
    assert got["TLSA domains whose MX hosts are outsourced (SO)"] == "80.0 %"
    assert got["DNSSEC failures of TLSA records"].startswith(
        "75.0 % missing DS, of 4 MX hosts whose TLSA is not secure")
    assert got["mismatches matching an old certificate"] == "75.0 % of 4 mismatching MX hosts"
    assert got["MX hosts with a secure TLSA RRset that does not match"] == "25.0 % of 16"
    assert got["top failure reasons (secure TLSA, DANE fails)"] == \
        "matches-old-certificate 3, no-starttls 2, no-match 1 (of 6 MX hosts)"
    assert got["valid domains on MX hosts serving more than 10,000 domains"] == "75.0 %"
    assert got["invalid domains on single-domain MX hosts"] == "40.0 %"
    assert got["MX hosts rolling over wrongly at least once"] == "75.0 % of 8 MX hosts"
    assert got["MX hosts ignoring the TTL"] == "25.0 % of 8 MX hosts"
    assert got["TLSA MX hosts with CA-issued certificates"] == "75.0 % of 20"


def test_every_headline_names_its_table_and_the_paper() -> None:
    lines = headlines(sample(), 3)
    assert {h.anchor for h in lines} <= set(sample())
    assert all(h.paper for h in lines)
    sections = [h.section for h in lines]
    assert sections == sorted(sections, key=["Deployment", "Who manages DANE", "Why DANE fails",
                                             "Key rollovers and certificates"].index)


def test_one_snapshot_says_rollovers_need_two() -> None:
    got = by_measure(snapshots=1)
    assert "two or more snapshots" in got["MX hosts rolling over wrongly at least once"]
    assert "two or more snapshots" in got["MX hosts ignoring the TTL"]


def test_missing_results_give_no_line_and_no_error() -> None:
    partial = {k: v for k, v in sample().items() if k in ("management_validity",)}
    lines = headlines(partial, 1)
    assert {h.anchor for h in lines} == {"management_validity"}
    assert table1(partial) == []
    assert text(lines).startswith("Who manages DANE:")


def test_text_summary_starts_with_table1() -> None:
    out = text(headlines(sample(), 3), table1(sample())).splitlines()
    assert out[0].startswith("Table 1")
    assert out[1].split()[:3] == ["TLD", "domains", "with"]
    assert out[2].split()[:4] == [".com", "200", "50", "25.0"]


def test_history_shows_the_real_scans_not_the_open_range() -> None:
    scans = (("h2", T0), ("h3", T0 + dt.timedelta(hours=1)), ("h4", T0 + dt.timedelta(hours=2)))
    sel = Selection("h4", scans[0][1], scans[-1][1], scans=scans)
    assert sel.history() == "3 scans, h2 (2026-11-30T19:00:00Z) .. h4 (2026-11-30T21:00:00Z)"
    assert sel.heading() == ("danescan report: scan h4 of 2026-11-30T21:00:00Z; history: 3 scans, "
                             "h2 (2026-11-30T19:00:00Z) .. h4 (2026-11-30T21:00:00Z)")
    one = Selection("h2", T0, T0, scans=scans[:1])
    assert one.history() == "1 scan, h2 (2026-11-30T19:00:00Z)"
    window = Selection("h3", T0 - dt.timedelta(days=1), T0 + dt.timedelta(hours=1),
                       scans=scans[:2], window_given=True)
    assert window.history().startswith("2026-11-29T19:00:00Z .. 2026-11-30T20:00:00Z: 2 scans")
    incomplete = Selection("h2", T0, T0, "incomplete", "com.zone.gz: cut", scans[:1])
    assert incomplete.heading().startswith(
        "danescan report: scan h2 (incomplete: com.zone.gz: cut) of 2026-11-30T19:00:00Z")


def test_empty_figures_say_what_they_need() -> None:
    empty = result("rollovers", [])
    assert "two or more snapshots" in empty_reason("rollovers", empty, 1)
    assert "No key change" in empty_reason("rollovers", empty, 4)
    assert empty_reason("rollovers", result("rollovers", [{"outcome": "correct"}]), 1) == ""
    assert "No MX host with a TLSA record" in empty_reason("mx_domains_cdf", empty, 1)


def test_tsv_escapes_and_jsonl_has_one_object_per_row() -> None:
    r = Result("x", ["a", "b"], ["String", "Nullable(UInt8)"],
               [("tab\there", None), ("line\nbreak \\", 3)], {})
    assert to_tsv(r) == "a\tb\ntab\\there\t\\N\nline\\nbreak \\\\\t3\n"
    lines = to_jsonl(r).splitlines()
    assert [json.loads(x) for x in lines] == [{"a": "tab\there", "b": None},
                                             {"a": "line\nbreak \\", "b": 3}]


def test_arrow_and_parquet_keep_the_clickhouse_types() -> None:
    r = Result("x", ["n", "s", "at", "hosts", "maybe", "raw"],
               ["UInt32", "String", "DateTime", "Array(String)", "Nullable(Int8)", "String"],
               [(1, "a", T0, ["mx1", "mx2"], None, b"\xff\x00"),
                (2, "b", T0 + dt.timedelta(hours=1), [], 5, "text")], {})
    table = columnar.to_arrow(r)
    assert table.schema.field("n").type == pa.uint32()
    assert table.schema.field("at").type == pa.timestamp("s", tz="UTC")
    assert table.schema.field("hosts").type == pa.list_(pa.string())
    assert table.column("maybe").to_pylist() == [None, 5]
    for fmt, read in (("parquet", pq.read_table),
                      ("arrow", lambda b: pa.ipc.open_file(b).read_all())):
        buf = io.BytesIO()
        columnar.write(r, fmt, buf)
        back = read(io.BytesIO(buf.getvalue()))
        assert back.column_names == r.columns
        assert back.column("at").to_pylist()[1] == T0 + dt.timedelta(hours=1)
        assert back.column("raw").to_pylist() == [b"\xff\x00", b"text"]  # mixed: kept as bytes


def test_duplicate_column_names_are_made_unique() -> None:
    r = Result("x", ["a", "a"], ["UInt8", "UInt8"], [(1, 2)], {})
    assert columnar.to_arrow(r).column_names == ["a", "a_2"]
