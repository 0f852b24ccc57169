"""The report's opening summary: the scan's headline numbers beside the paper's, each pointing to
the table it comes from. Pure: reads analysis results, never the database.

The paper's figures are those of methodology.md sections 4-7 (and the paper's text in seed/):
Table 1 (.com: 0.97 % of domains with TLSA, over 22 % of those MX hosts invalid, 0.51 % of those
domains invalid; .se: 41.57 % with TLSA), validity by management class (99 % of SO domains valid,
more than 30 % invalid when the SMTP server is self-managed), missing DS as 99 % of the DNSSEC
failures of TLSA records, 70 % of mismatches matching an old certificate, Figure 2 (90 % of
valid domains on MX hosts serving more than 10,000 domains; single-domain invalid MX hosts 45 %
of the invalid domains), rollovers (87-92 % of MX hosts wrong at least once, 72-84 % ignoring
the TTL) and CA reliance (more than 94 % CA-issued).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from queries.run import Result

# Table 1 of the paper, per TLD: (domains with TLSA, TLSA MX hosts invalid, TLSA domains
# invalid), as far as the paper's text gives them ('' where it does not).
PAPER_TLD: dict[str, tuple[str, str, str]] = {
    "com": ("0.97 %", "over 22 %", "0.51 %"),
    "net": ("under 1 %", "", ""),
    "org": ("under 1 %", "", ""),
    "se": ("41.57 %", "", ""),
}


@dataclass(frozen=True)
class Headline:
    measure: str
    ours: str  # the value in this scan, or why there is none
    paper: str  # the paper's value ('' when it has none)
    anchor: str  # the id of the table it comes from
    section: str  # the group it belongs to, in the order of the summary


def pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "none to count"


def _records(results: Mapping[str, Result], name: str) -> list[dict[str, Any]] | None:
    r = results.get(name)
    return None if r is None else r.records()


def _num(row: Mapping[str, Any], key: str) -> float:
    value = row.get(key)
    return float(value) if isinstance(value, int | float) else 0.0


@dataclass(frozen=True)
class TldRow:
    """One line of Table 1: a TLD (or 'all') with its DANE deployment and failure shares."""

    tld: str
    domains: int
    with_tlsa: int
    tlsa_mx_hosts: int
    mx_hosts_invalid: str  # a share, formatted
    domains_invalid: str
    with_tlsa_share: str
    paper: tuple[str, str, str]  # the paper's three shares, '' where it gives none


def table1(results: Mapping[str, Result]) -> list[TldRow]:
    """Table 1 of the paper from tld_deployment: per TLD, then all TLDs."""
    rows = _records(results, "tld_deployment")
    if rows is None:
        return []
    out = []
    for r in sorted(rows, key=lambda r: (r.get("tld") == "all", str(r.get("tld")))):
        tld = str(r.get("tld"))
        domains, tlsa = _num(r, "domains"), _num(r, "with_tlsa")
        hosts, bad_hosts = _num(r, "tlsa_mx_hosts"), _num(r, "invalid_mx_hosts")
        out.append(TldRow("all" if tld == "all" else f".{tld}", int(domains), int(tlsa),
                          int(hosts), pct(bad_hosts, hosts), pct(_num(r, "invalid_domains"), tlsa),
                          pct(tlsa, domains), PAPER_TLD.get(tld, ("", "", ""))))
    return out


def class_lines(results: Mapping[str, Result]) -> list[Headline]:
    rows = _records(results, "management_validity")
    if rows is None:
        return []
    paper = {"SO": "99 % valid", "SSDO": "more than 30 % invalid (self-managed SMTP)",
             "SSDS": "more than 30 % invalid (self-managed SMTP)"}
    by_class = {str(r.get("class")): r for r in rows}
    out = []
    for cls in ("SO", "SSDO", "SSDS"):
        r = by_class.get(cls)
        if r is None:
            ours = "no domain in this class"
        else:
            n, valid = _num(r, "domains"), _num(r, "valid")
            ours = f"{pct(valid, n)} valid, {pct(n - valid, n)} invalid ({n:,.0f} domains)"
        out.append(Headline(f"validity of {cls} domains", ours, paper[cls], "management_validity",
                            "Who manages DANE"))
    total = sum(_num(r, "domains") for r in rows)
    so = _num(by_class.get("SO", {}), "domains")
    out.append(Headline("TLSA domains whose MX hosts are outsourced (SO)", pct(so, total),
                        "96.6 % on popular MX providers", "management_validity",
                        "Who manages DANE"))
    return out


def reason_lines(results: Mapping[str, Result]) -> list[Headline]:
    out = []
    dnssec = _records(results, "dnssec_failure_reasons")
    secure = (None if dnssec is None else
              sum(_num(r, "mx_hosts") for r in dnssec if r.get("status") == "secure"))
    if dnssec is not None:
        failing = [r for r in dnssec if r.get("status") != "secure"]
        total = sum(_num(r, "mx_hosts") for r in failing)
        missing = sum(_num(r, "mx_hosts") for r in failing if r.get("reason") == "missing-ds")
        top = ", ".join(f"{r.get('status')}/{r.get('reason')} {_num(r, 'mx_hosts'):,.0f}"
                        for r in sorted(failing, key=lambda r: -_num(r, "mx_hosts"))[:3])
        ours = (f"{pct(missing, total)} missing DS, of {total:,.0f} MX hosts whose TLSA is not "
                f"secure" + (f" (most: {top})" if top else "")) if total else \
            "no TLSA RRset failed DNSSEC"
        out.append(Headline("DNSSEC failures of TLSA records", ours, "99 % missing DS",
                            "dnssec_failure_reasons", "Why DANE fails"))
    mismatch = _records(results, "mismatch_reasons")
    if mismatch is not None:
        total = sum(_num(r, "mx_hosts") for r in mismatch)
        ranked = sorted(mismatch, key=lambda r: (-_num(r, "mx_hosts"), str(r.get("reason"))))
        top = ", ".join(f"{r.get('reason')} {_num(r, 'mx_hosts'):,.0f}" for r in ranked[:3])
        out.append(Headline("top failure reasons (secure TLSA, DANE fails)",
                            f"{top} (of {total:,.0f} MX hosts)" if total else "none",
                            "mismatches, most matching an old certificate (Figure 4)",
                            "mismatch_reasons", "Why DANE fails"))
        old = sum(_num(r, "mx_hosts") for r in mismatch
                  if r.get("reason") == "matches-old-certificate")
        records_wrong = sum(_num(r, "mx_hosts") for r in mismatch
                            if r.get("reason") in MISMATCHES)
        if secure is not None:
            out.append(Headline("MX hosts with a secure TLSA RRset that does not match",
                                f"{pct(records_wrong, secure)} of {secure:,.0f}", "20 %",
                                "mismatch_reasons", "Why DANE fails"))
        out.append(Headline("mismatches matching an old certificate",
                            f"{pct(old, records_wrong)} of {records_wrong:,.0f} mismatching MX hosts",
                            "70 %", "mismatch_reasons", "Why DANE fails"))
    return out


# The reasons where the records do not match what the server presents (methodology section 3).
MISMATCHES = frozenset({"no-match", "matches-old-certificate", "wrong-usage", "wrong-selector",
                        "wrong-matching-type", "undefined-field", "empty-hash", "name-mismatch",
                        "chain-invalid"})


def cdf_lines(results: Mapping[str, Result]) -> list[Headline]:
    rows = _records(results, "mx_domains_cdf")
    if rows is None:
        return []
    valid = [r for r in rows if r.get("validity") == "valid"]
    invalid = [r for r in rows if r.get("validity") == "invalid"]
    big = sum(_num(r, "domains") for r in valid if _num(r, "domains_served") > 10_000)
    single = sum(_num(r, "domains") for r in invalid if _num(r, "domains_served") == 1)
    return [
        Headline("valid domains on MX hosts serving more than 10,000 domains",
                 pct(big, sum(_num(r, "domains") for r in valid)), "90 %", "mx_domains_cdf",
                 "Deployment"),
        Headline("invalid domains on single-domain MX hosts",
                 pct(single, sum(_num(r, "domains") for r in invalid)), "45 %", "mx_domains_cdf",
                 "Deployment"),
    ]


def rollover_lines(results: Mapping[str, Result], snapshots: int) -> list[Headline]:
    rows = _records(results, "rollover_outcomes")
    if rows is None:
        return []
    hosts = {str(r.get("outcome")): _num(r, "changes") for r in rows
             if r.get("dimension") == "hosts"}
    judged = hosts.get("judged", 0.0)
    if snapshots < 2:
        why = f"needs two or more snapshots (the history holds {snapshots})"
        wrong = ttl = why
    elif not judged:
        wrong = ttl = f"no key change could be judged in {snapshots} snapshots"
    else:
        wrong = f"{pct(hosts.get('wrong-at-least-once', 0.0), judged)} of {judged:,.0f} MX hosts"
        ttl = f"{pct(hosts.get('ignored-ttl', 0.0), judged)} of {judged:,.0f} MX hosts"
    return [Headline("MX hosts rolling over wrongly at least once", wrong, "87-92 %",
                     "rollover_outcomes", "Key rollovers and certificates"),
            Headline("MX hosts ignoring the TTL", ttl, "72-84 %", "rollover_outcomes",
                     "Key rollovers and certificates")]


def ca_lines(results: Mapping[str, Result]) -> list[Headline]:
    rows = _records(results, "ca_reliance")
    if rows is None:
        return []
    total = sum(_num(r, "mx_hosts") for r in rows)
    ca = sum(_num(r, "mx_hosts") for r in rows if r.get("kind") == "ca-issued")
    return [Headline("TLSA MX hosts with CA-issued certificates",
                     f"{pct(ca, total)} of {total:,.0f}" if total else "no certificate seen",
                     "more than 94 %", "ca_reliance", "Key rollovers and certificates")]


def headlines(results: Mapping[str, Result], snapshots: int) -> list[Headline]:
    """Every headline, grouped by section in reading order."""
    lines = [*cdf_lines(results), *class_lines(results),
             *reason_lines(results), *rollover_lines(results, snapshots), *ca_lines(results)]
    order = ["Deployment", "Who manages DANE", "Why DANE fails", "Key rollovers and certificates"]
    return sorted(lines, key=lambda h: order.index(h.section) if h.section in order else 99)


TABLE1_COLUMNS = ("TLD", "domains", "with TLSA", "share", "paper", "TLSA MX hosts",
                  "invalid", "paper", "TLSA domains invalid", "paper")


def table1_cells(row: TldRow) -> tuple[str, ...]:
    """The cells of one Table 1 line, in TABLE1_COLUMNS order ('-' where the paper has none)."""
    paper = tuple(p or "-" for p in row.paper)
    return (row.tld, f"{row.domains:,}", f"{row.with_tlsa:,}", row.with_tlsa_share, paper[0],
            f"{row.tlsa_mx_hosts:,}", row.mx_hosts_invalid, paper[1], row.domains_invalid,
            paper[2])


def text(lines: Sequence[Headline], tlds: Sequence[TldRow] = ()) -> str:
    """The summary as plain text, for the terminal: Table 1, then the other headlines."""
    out = []
    if tlds:
        cells = [TABLE1_COLUMNS, *(table1_cells(r) for r in tlds)]
        widths = [max(len(c[i]) for c in cells) for i in range(len(TABLE1_COLUMNS))]
        out.append("Table 1 (deployment and failure per TLD):")
        for c in cells:
            out.append("  " + "  ".join(v.ljust(w) if i == 0 else v.rjust(w)
                                        for i, (v, w) in enumerate(zip(c, widths, strict=True)))
                       .rstrip())
        out.append("")
    section = ""
    for h in lines:
        if h.section != section:
            section = h.section
            out.append(f"{section}:")
        paper = f"   [paper: {h.paper}]" if h.paper else ""
        out.append(f"  {h.measure}: {h.ours}{paper}")
    return "\n".join(out)
