"""One self-contained HTML page with every table and the figures (embedded as data: URIs)."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path

from danescan.report.render import cell
from queries.catalog import get
from queries.run import Result


def page(title: str, results: Sequence[Result], figures: Sequence[Path]) -> str:
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
             "font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px}th{background:#eee}"
             "pre{color:#555;font-size:11px}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>", "<h2>Figures</h2>"]
    for fig in figures:
        data = base64.b64encode(fig.read_bytes()).decode()
        parts.append(f"<figure><img alt='{html.escape(fig.stem)}' src='data:image/png;base64,{data}'>"
                     f"<figcaption>{html.escape(fig.name)}</figcaption></figure>")
    for r in results:
        parts.append(f"<h2 id='{r.name}'>{html.escape(r.name)}</h2>")
        parts.append(f"<pre>{html.escape(get(r.name).header)}</pre>")
        params = ", ".join(f"{k}={cell(v)}" for k, v in r.params.items())
        parts.append(f"<p>parameters: {html.escape(params or 'none')}; {len(r.rows)} rows</p>")
        parts.append("<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in r.columns)
                     + "</tr>")
        for row in r.rows[:500]:
            parts.append("<tr>" + "".join(f"<td>{html.escape(cell(v))}</td>" for v in row) + "</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)
