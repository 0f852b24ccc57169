"""PNG figures drawn with matplotlib (Agg backend, no display)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from queries.run import Result


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def empty_reason(name: str, result: Result, snapshots: int) -> str:
    """Why a figure has nothing to draw ('' when it has): the sentence the figure shows."""
    if result.rows:
        return ""
    if name == "rollovers":
        if snapshots < 2:
            return (f"Key rollovers need two or more snapshots; this history holds {snapshots}. "
                    "Scan again later (an hourly re-scan) to see them.")
        return f"No key change of a DANE MX host in the {snapshots} snapshots of this history."
    if name == "mx_domains_cdf":
        return "No MX host with a TLSA record in this scan: nothing to draw."
    return "No domain with a TLSA record in this scan: nothing to draw."


def _empty(plt: Any, path: Path, title: str, sentence: str) -> Path:
    """A figure that says what it would need, instead of an empty frame."""
    import textwrap

    fig, ax = plt.subplots(figsize=(7, 2.2))
    ax.axis("off")
    ax.set_title(title)
    ax.text(0.5, 0.5, textwrap.fill(sentence, 70), ha="center", va="center", fontsize=11,
            color="#444", transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def cdf(result: Result, path: Path) -> Path:
    """Figure 2: CDF of domains per DANE MX host, valid vs invalid."""
    plt = _plt()
    title = "Domains per DANE MX host (paper Figure 2)"
    if not result.rows:
        return _empty(plt, path, title, empty_reason("mx_domains_cdf", result, 1))
    fig, ax = plt.subplots(figsize=(6, 4))
    for validity in ("valid", "invalid"):
        pts = [(r["domains_served"], r["cum_pct_domains"]) for r in result.records()
               if r["validity"] == validity]
        if pts:
            xs, ys = zip(*pts, strict=True)
            ax.step([0, *xs], [0, *ys], where="post", label=f"{validity} MX hosts")
    ax.set_xscale("log")
    ax.set_xlabel("domains served by the MX host")
    ax.set_ylabel("cumulative % of domains")
    ax.set_ylim(0, 100)
    ax.legend()
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def rollovers_over_time(result: Result, path: Path, snapshots: int) -> Path:
    """Rollover outcomes per snapshot time, stacked; with nothing to draw, the sentence of why
    (after one snapshot: that two or more are needed)."""
    plt = _plt()
    title = "Key rollover outcomes over time (methodology section 5)"
    if not result.rows:
        return _empty(plt, path, title, empty_reason("rollovers", result, snapshots))
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in result.records():
        counts[r["outcome"]][r["switch_at"].strftime("%Y-%m-%d %H:%M")] += 1
    times = sorted({t for c in counts.values() for t in c})
    fig, ax = plt.subplots(figsize=(7.5, 4))
    bottom = [0] * len(times)
    for outcome in sorted(counts):
        vals = [counts[outcome].get(t, 0) for t in times]
        ax.bar(range(len(times)), vals, bottom=bottom, label=outcome)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax.set_xticks(range(len(times)), times, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("key changes")
    ax.set_title(title)
    if counts:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def validity_by_class(result: Result, path: Path) -> Path:
    """Valid and invalid DANE domains per management class."""
    plt = _plt()
    title = "DANE validity by management class (SO / SSDO / SSDS)"
    if not result.rows:
        return _empty(plt, path, title, empty_reason("management_validity", result, 1))
    recs = result.records()
    labels = [r["class"] for r in recs]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar(labels, [r["valid"] for r in recs], label="valid")
    ax.bar(labels, [r["invalid"] for r in recs], bottom=[r["valid"] for r in recs], label="invalid")
    ax.set_ylabel("domains with DANE")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
