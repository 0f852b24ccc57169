"""The short table a scan ends with: who deploys DANE, who validates, why the others fail."""

from __future__ import annotations

from dataclasses import dataclass

from workers.store.backend import Database, sql_string


@dataclass(frozen=True)
class Summary:
    scan_id: str
    domains: int
    with_mx: int
    with_tlsa: int
    dane_valid: int
    mx_hosts_with_tlsa: int
    mx_hosts_valid: int
    invalid_by_reason: list[tuple[str, int, int]]  # (reason, MX hosts, domains)
    lookup_failures: int
    # polite scanning: skipped because of the exclusion list (no query, no connection)
    excluded_domains: int = 0
    excluded_hosts: int = 0
    excluded_addresses: int = 0


def summarize(db: Database, scan_id: str) -> Summary:
    sid = sql_string(scan_id)
    hosts = (f"SELECT mx_host, valid, reason FROM dane_verdicts FINAL WHERE scan_id = {sid} "
             "AND ip = '' AND reason NOT IN ('no-tlsa', 'excluded')")
    d = db.query(
        "SELECT count(), countIf(length(mx) > 0), "
        "countIf(status NOT IN ('NOERROR', 'NXDOMAIN', 'EXCLUDED')), countIf(status = 'EXCLUDED') "
        f"FROM domains FINAL WHERE scan_id = {sid}")[0]
    skipped = db.query(
        "SELECT countIf(ip = '' AND reason = 'excluded' AND mx_host NOT IN (SELECT mx_host FROM "
        f"starttls_probes FINAL WHERE scan_id = {sid} AND status = 'excluded')) FROM dane_verdicts "
        f"FINAL WHERE scan_id = {sid}")[0]
    addresses = db.query(
        f"SELECT uniqExact(ip) FROM starttls_probes FINAL WHERE scan_id = {sid} "
        "AND status = 'excluded'")[0]
    per_domain = db.query(
        "SELECT count(), countIf(all_valid) FROM (SELECT domain, min(h.valid) = 1 AS all_valid "
        f"FROM (SELECT domain, host FROM domains FINAL ARRAY JOIN mx AS host WHERE scan_id = {sid}) "
        f"AS dm INNER JOIN ({hosts}) AS h ON dm.host = h.mx_host GROUP BY domain)")[0]
    h = db.query(f"SELECT count(), countIf(valid = 1) FROM ({hosts})")[0]
    reasons = db.query(
        "SELECT h.reason, uniqExact(h.mx_host), uniqExact(dm.domain) FROM ("
        f"{hosts} AND valid = 0) AS h LEFT JOIN (SELECT domain, host FROM domains FINAL "
        f"ARRAY JOIN mx AS host WHERE scan_id = {sid}) AS dm ON dm.host = h.mx_host "
        "GROUP BY h.reason ORDER BY 2 DESC, 1")
    return Summary(scan_id, int(d[0]), int(d[1]), int(per_domain[0]), int(per_domain[1]),
                   int(h[0]), int(h[1]), [(str(r), int(a), int(b)) for r, a, b in reasons],
                   int(d[2]), int(d[3]), int(skipped[0]), int(addresses[0]))


def render(s: Summary) -> str:
    def pct(a: int, b: int) -> str:
        return f"{100 * a / b:5.1f} %" if b else "    -  "

    lines = [
        f"scan {s.scan_id}",
        f"  domains                    {s.domains:>10,}",
        f"  with MX                    {s.with_mx:>10,}  {pct(s.with_mx, s.domains)}",
        f"  with TLSA (DANE)           {s.with_tlsa:>10,}  {pct(s.with_tlsa, s.with_mx)} of those with MX",
        f"  DANE-valid domains         {s.dane_valid:>10,}  {pct(s.dane_valid, s.with_tlsa)} of those with TLSA",
        f"  MX hosts with TLSA         {s.mx_hosts_with_tlsa:>10,}",
        f"  MX hosts valid             {s.mx_hosts_valid:>10,}  {pct(s.mx_hosts_valid, s.mx_hosts_with_tlsa)}",
        f"  domain lookups failed      {s.lookup_failures:>10,}",
        f"  excluded (not scanned)     {s.excluded_domains:>10,} domains, "
        f"{s.excluded_hosts:,} MX hosts by name, {s.excluded_addresses:,} address(es)",
        "  invalid, by reason            MX hosts    domains",
    ]
    for reason, n_hosts, n_domains in s.invalid_by_reason:
        lines.append(f"    {reason:<26} {n_hosts:>10,} {n_domains:>10,}")
    return "\n".join(lines)
