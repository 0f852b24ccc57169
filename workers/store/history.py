"""What a scan already holds, read back from the store: resumes and earlier certificates.

Names come back from the tables without the trailing dot (see workers.scan.rows) and go out
absolute, as the DNS stage writes them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from workers.names import absolute, relative
from workers.store.backend import Database, sql_string


def done_domains(db: Database, scan_id: str) -> set[str]:
    rows = db.query(f"SELECT DISTINCT domain FROM domains WHERE scan_id = {sql_string(scan_id)}")
    return {r[0] for r in rows}


def done_hosts(db: Database, scan_id: str) -> set[str]:
    rows = db.query(f"SELECT DISTINCT mx_host FROM dane_verdicts WHERE scan_id = {sql_string(scan_id)}"
                    " AND ip = ''")
    return {absolute(r[0]) for r in rows}


def history_loader(db: Database, scan_id: str, before: dt.datetime
                   ) -> Callable[[Sequence[str]], dict[str, list[bytes]]]:
    """Earlier leaf certificates of MX hosts (other scans, probed before this one)."""

    def load(hosts: Sequence[str]) -> dict[str, list[bytes]]:
        names = [relative(h).lower() for h in hosts]
        if not names:
            return {}
        in_list = ", ".join(sql_string(n) for n in names)
        probes = (f"FROM starttls_probes WHERE scan_id != {sql_string(scan_id)} "
                  f"AND mx_host IN ({in_list}) AND length(chain) > 0 "
                  f"AND probed_at < toDateTime({int(before.timestamp())}, 'UTC')")
        # only the leaves wanted are read from certificates (its sort key is sha256), not the
        # whole table once per lookup
        rows = db.query(
            f"SELECT p.mx_host, c.der FROM (SELECT DISTINCT mx_host, chain[1] AS leaf {probes}) "
            "AS p INNER JOIN (SELECT DISTINCT sha256, der FROM certificates "
            f"WHERE sha256 IN (SELECT chain[1] {probes})) AS c ON p.leaf = c.sha256")
        out: dict[str, list[bytes]] = {}
        for host, der in rows:
            out.setdefault(absolute(host), []).append(der if isinstance(der, bytes) else der.encode("latin-1"))
        return out

    return load
