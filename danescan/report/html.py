"""One self-contained HTML page: the summary first (the scan's headline numbers beside the
paper's, each linking to its table), then the figures, then every table (figures embedded as
data: URIs, so the page can be mailed or archived as one file)."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path

from danescan.report.figures import empty_reason
from danescan.report.headline import TABLE1_COLUMNS, Headline, TldRow, table1_cells
from danescan.report.render import cell
from queries.catalog import get
from queries.run import Result

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em 2em;max-width:1200px;color:#222;line-height:1.35}
h1{font-size:1.45em;margin-bottom:.2em} h2{margin-top:1.6em;border-bottom:1px solid #ddd}
h3{margin:1.1em 0 .3em;font-size:1.05em;color:#333}
.sub{color:#555;margin-top:0}
nav{font-size:13px;margin:.6em 0 1em} nav a{margin-right:.8em}
table{border-collapse:collapse;font-size:12px;margin:.4em 0}
td,th{border:1px solid #ccc;padding:2px 6px;vertical-align:top} th{background:#eee;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
table.summary{font-size:14px;width:100%} table.summary td{padding:4px 8px}
table.summary td.paper{color:#555;width:24%} table.summary td.measure{width:30%}
table.summary td.ours{font-weight:600}
.empty{color:#8a5a00;background:#fff6e0;border:1px solid #f0d9a0;padding:4px 8px;display:inline-block}
figure{display:inline-block;margin:0 1.5em 1em 0;vertical-align:top;max-width:560px}
figure img{max-width:560px;height:auto}
table.t1 td.paper,table.t1 th.paper{color:#555;background:#f6f6f6}
.note{font-size:12px;color:#555;margin-top:0}
figcaption{font-size:12px;color:#555}
pre{color:#555;font-size:11px;white-space:pre-wrap;max-width:900px}
a{color:#0b5cad}
"""


def _table1(tlds: Sequence[TldRow], anchors: set[str]) -> list[str]:
    if not tlds:
        return []
    link = ("<a href='#tld_deployment'>tld_deployment</a>" if "tld_deployment" in anchors
            else "tld_deployment")
    parts = [f"<h3>Table 1: DANE deployment and failure per TLD ({link})</h3>",
             "<table class='t1'><tr>" + "".join(
                 f"<th{' class=paper' if c == 'paper' else ''}>{html.escape(c)}</th>"
                 for c in TABLE1_COLUMNS) + "</tr>"]
    for row in tlds:
        cells = table1_cells(row)
        parts.append("<tr>" + "".join(
            f"<td class='{'paper' if TABLE1_COLUMNS[i] == 'paper' else 'num' if i else ''}'>"
            f"{html.escape(v)}</td>" for i, v in enumerate(cells)) + "</tr>")
    parts.append("</table><p class='note'>share: of all domains of the TLD; invalid: of the MX "
                 "hosts with TLSA, and of the domains with TLSA (measurement view: insecure "
                 "TLSA counts as invalid, as in the paper).</p>")
    return parts


# figure file stem -> (caption, the table it is drawn from)
CAPTIONS = {
    "mx_domains_cdf": ("Paper Figure 2: how many domains each DANE MX host serves, valid and "
                       "invalid hosts", "mx_domains_cdf"),
    "validity_by_class": ("Valid and invalid DANE domains by who manages the MX and name "
                          "servers", "management_validity"),
    "rollover_outcomes": ("Outcomes of the key changes of DANE MX hosts per snapshot",
                          "rollovers"),
}


def _summary(lines: Sequence[Headline], anchors: set[str],
             tlds: Sequence[TldRow] = ()) -> list[str]:
    parts = ["<h2 id='summary'>Summary: this scan beside the paper</h2>", *_table1(tlds, anchors),
             "<h3>Headline numbers</h3>",
             "<table class='summary'><tr><th>measure</th><th>this scan</th>"
             "<th>paper (USENIX Security 2022)</th><th>table</th></tr>"]
    section = ""
    for h in lines:
        if h.section != section:
            section = h.section
            parts.append(f"<tr><th colspan='4'>{html.escape(section)}</th></tr>")
        link = (f"<a href='#{html.escape(h.anchor)}'>{html.escape(h.anchor)}</a>"
                if h.anchor in anchors else "")
        parts.append(f"<tr><td class='measure'>{html.escape(h.measure)}</td>"
                     f"<td class='ours'>{html.escape(h.ours)}</td>"
                     f"<td class='paper'>{html.escape(h.paper)}</td><td>{link}</td></tr>")
    parts.append("</table>")
    return parts


def _numeric(values: list[object]) -> bool:
    return bool(values) and all((isinstance(v, int | float) and not isinstance(v, bool))
                                or v is None for v in values)


def _table(r: Result, snapshots: int) -> list[str]:
    parts = [f"<h3 id='{html.escape(r.name)}'>{html.escape(r.name)}</h3>",
             f"<pre>{html.escape(get(r.name).header)}</pre>"]
    params = ", ".join(f"{k}={cell(v)}" for k, v in r.params.items())
    rows = f"{len(r.rows):,} row{'' if len(r.rows) == 1 else 's'}"
    parts.append(f"<p>parameters: {html.escape(params or 'none')}; {rows}</p>")
    if not r.rows:
        why = (empty_reason("rollovers", r, snapshots) if r.name.startswith("rollover")
               else "No rows in this scan.")
        parts.append(f"<p class='empty'>{html.escape(why)}</p>")
        return parts
    numeric = [_numeric([row[i] for row in r.rows]) for i in range(len(r.columns))]
    parts.append("<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in r.columns) + "</tr>")
    for row in r.rows[:500]:
        parts.append("<tr>" + "".join(
            f"<td{' class=num' if n else ''}>{html.escape(cell(v))}</td>"
            for v, n in zip(row, numeric, strict=True)) + "</tr>")
    parts.append("</table>")
    if len(r.rows) > 500:
        parts.append(f"<p>... {len(r.rows) - 500} more rows in {html.escape(r.name)} "
                     "(all of them in the table files beside this page)</p>")
    return parts


def page(title: str, results: Sequence[Result], figures: Sequence[Path],
         summary: Sequence[Headline] = (), snapshots: int = 1,
         tlds: Sequence[TldRow] = ()) -> str:
    anchors = {r.name for r in results}
    head, _, history = title.partition("; history: ")
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{STYLE}</style></head><body>",
             f"<h1>{html.escape(head)}</h1>"]
    if history:
        parts.append(f"<p class='sub'>history: {html.escape(history)}</p>")
    links = ["summary", "figures", *(r.name for r in results)]
    parts.append("<nav>" + " ".join(f"<a href='#{html.escape(n)}'>{html.escape(n)}</a>"
                                    for n in links) + "</nav>")
    parts.extend(_summary(summary, anchors, tlds))
    parts.append("<h2 id='figures'>Figures</h2>")
    for fig in figures:
        data = base64.b64encode(fig.read_bytes()).decode()
        caption, table = CAPTIONS.get(fig.stem, (fig.name, ""))
        link = f" (table <a href='#{table}'>{table}</a>)" if table in anchors else ""
        parts.append(f"<figure><img alt='{html.escape(fig.stem)}' src='data:image/png;base64,{data}'>"
                     f"<figcaption>{html.escape(caption)}{link}</figcaption></figure>")
    parts.append("<h2 id='tables'>Tables</h2>")
    for r in results:
        parts.extend(_table(r, snapshots))
    parts.append("</body></html>")
    return "\n".join(parts)
