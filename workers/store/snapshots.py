"""Store what the rollover, renewal and mismatch analyses read of one snapshot, when its scan
closes (issue 17).

Migrations 0014 and 0015 hold the rules as views over the raw rows (``probe_snapshots_of``,
``tlsa_snapshots_of``, ``host_classes_of``, ``leaf_snapshots_of``) and tables that keep their
answer per scan: the chains presented, each with the class of the domains its host serves, the
TLSA RRsets, and the leaf of each host's verdict (renewals).
``derive`` fills the tables for one scan from the views, then records in ``derived_scans``
from which version of the scan's row it did so, and with which version of its own (every row of
one derivation carries it): ``rollover_switches``, renewals and mismatch_reasons read the stored
rows only for scans whose row has not changed since, and the raw rows through the same views for
every other scan. A scan that could not be derived (a server older than the views, an outage at
its close) is therefore answered the same, only slower, and a scan closed again after a resume
is derived again. At every close, scans closed earlier whose rows were not stored (the store failed
then) are stored too (``derive_closed``).

Migration 0016 adds each stored scan's chain changes (``chain_changes_of``): found after the
snapshot rows, for the scans stored and for every stored scan started after them, whose previous
snapshot may now be another. rollover_switches reads them only while they match the stored
sequence as it stands (``stored_sequence``), and finds the changes from the chains otherwise.

Migration 0017 adds each stored scan's management classes (``class_snapshots_of``), stored with
the snapshot rows and recorded in ``class_sets`` before ``derived_scans``: the management files
read them through ``class_rows`` for a scan stored at their threshold, and classify the others.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from workers.store.backend import Database, StoreError, sql_string

log = logging.getLogger(__name__)

# The methodology's threshold for the management classes (queries take it as a parameter; a
# query with another one reads the raw rows).
THRESHOLD = 50
TABLES = ("probe_snapshots", "tlsa_snapshots", "leaf_snapshots", "derived_scans")
# migration 0016: each stored scan's chain changes, and the record that they were found
CHANGE_TABLES = ("chain_changes", "chain_change_sets")
# the stored scans before a close read for the previous snapshot of its addresses (the whole
# history of those absent from all of them); chain_changes_of in migration 0016
LOOKBACK = 4
# migration 0017: each stored scan's management classes, and the record that they were stored
CLASS_TABLES = ("class_snapshots", "class_sets")
# no scan starts later (ClickHouse's last DateTime)
LAST = "toDateTime(4294967295, 'UTC')"


def _array(scan_ids: Sequence[str]) -> str:
    """The scan ids as a ClickHouse Array(String) literal."""
    return f"[{', '.join(sql_string(s) for s in scan_ids)}]"


def statements(scan_ids: Sequence[str], version: int, threshold: int = THRESHOLD,
               classes: bool = True) -> list[str]:
    """The INSERTs that store the scans' snapshot rows (with ``classes``, migrated to 0017: and
    their management classes), the record of it last."""
    scans = _array(scan_ids)
    stored_classes = [
        "INSERT INTO class_snapshots SELECT scan_id, domain, class, mx_kinds, ns_kinds, valid, "
        f"reason, {version} FROM class_snapshots_of(scans = {scans}, threshold = {threshold})",
        f"INSERT INTO class_sets SELECT scan_id, {version} FROM scans FINAL WHERE has({scans}, scan_id)",
    ] if classes else []
    return [
        *stored_classes,
        "INSERT INTO probe_snapshots SELECT p.scan_id, p.at, p.host, p.ip, p.leaf_cert, p.leaf_key, "
        f"p.issuer_key, p.keys, c.class, {version} FROM probe_snapshots_of(scans = {scans}) AS p "
        f"LEFT JOIN host_classes_of(scans = {scans}, threshold = {threshold}, hosts = []) AS c "
        "ON c.scan_id = p.scan_id AND c.host = p.host",
        "INSERT INTO tlsa_snapshots SELECT scan_id, at, host, tlsa, ttl, usages, secure, "
        f"has_records, {version} FROM tlsa_snapshots_of(scans = {scans})",
        "INSERT INTO leaf_snapshots SELECT scan_id, at, host, cert, spki, spki512, valid, judged, "
        f"issuer_org, issuer_cn, {version} FROM leaf_snapshots_of(scans = {scans})",
        f"INSERT INTO derived_scans SELECT scan_id, version, {threshold}, now(), {version} "
        f"FROM scans FINAL WHERE has({scans}, scan_id)",
    ]


def change_statements(scan_ids: Sequence[str], version: int, lookback: int = LOOKBACK) -> list[str]:
    """The INSERTs that store the chain changes of stored scans, the record of them last (as the
    migration 0016 does for the scans stored before it)."""
    scans = _array(scan_ids)
    return [
        "INSERT INTO chain_changes SELECT scan_id, host, ip, at, t0, change, new_keys, old_keys, "
        f"class, {version} FROM chain_changes_of(scans = {scans}, lookback = {lookback})",
        "INSERT INTO chain_change_sets SELECT scan_id, version, prior, prev, prev_version, "
        f"{version} FROM stored_sequence(until = {LAST}) WHERE has({scans}, scan_id)",
    ]


def successors(db: Database, scan_ids: Sequence[str]) -> list[str]:
    """The scans whose changes are to be found: those with current stored rows started at or after
    the first of ``scan_ids`` (a scan stored is the previous snapshot of the next ones), and
    every stored scan without a current change set (its changes not stored at its close, or found
    against another sequence)."""
    if not scan_ids:
        return []
    scans = _array(scan_ids)
    rows = db.query(f"SELECT scan_id FROM stored_sequence(until = {LAST}) "
                    f"WHERE at >= (SELECT min(at) FROM stored_sequence(until = {LAST}) "
                    f"WHERE has({scans}, scan_id)) "
                    f"OR scan_id NOT IN (SELECT scan_id FROM current_change_sets(until = {LAST})) "
                    "ORDER BY at, scan_id")
    return [str(r[0]) for r in rows]


def derive(db: Database, *scan_ids: str, threshold: int = THRESHOLD, lookback: int = LOOKBACK) -> bool:
    """Store the snapshot rows of closed scans, and (migrated to 0016) their chain changes and
    those of the stored scans after them, each address's previous snapshot looked for among the
    ``lookback`` stored scans before them first. False (and nothing recorded) when this database
    has no snapshot tables (not migrated to 0015, or a server too old for its views) or the store
    failed: the analyses then read those scans' raw rows."""
    try:
        return _has_tables(db) and _store(db, scan_ids, threshold, lookback)
    except StoreError as exc:
        log.warning("scans %s: snapshot rows not stored (%s); analyses read their raw rows",
                    ", ".join(scan_ids), exc)
        return False


def _has_tables(db: Database) -> bool:
    """Migrated to 0015: a database at 0014 has derived_scans but no leaf_snapshots, and a scan
    recorded there would lack the leaf rows renewals reads."""
    return db.table_exists("leaf_snapshots")


def _store(db: Database, scan_ids: Sequence[str], threshold: int, lookback: int = LOOKBACK) -> bool:
    """The INSERTs, on a database known to have the snapshot tables; then, where it has the
    change tables, the changes of these scans and of the stored scans after them."""
    if scan_ids:
        classes = db.table_exists(CLASS_TABLES[-1])
        for sql in statements(scan_ids, time.time_ns(), threshold, classes):
            db.execute(sql)
        if db.table_exists(CHANGE_TABLES[-1]):
            _store_changes(db, scan_ids, lookback)
    return True


def _store_changes(db: Database, scan_ids: Sequence[str], lookback: int) -> None:
    """The chain changes; a failure leaves the snapshot rows stored (rollover_switches finds the
    changes from the chains until a later close stores them)."""
    try:
        for sql in change_statements(successors(db, scan_ids), time.time_ns(), lookback):
            db.execute(sql)
    except StoreError as exc:
        log.warning("scans %s: chain changes not stored (%s); a later close stores them",
                    ", ".join(scan_ids), exc)


def unstored(db: Database) -> list[str]:
    """Closed scans without current stored rows: never stored, or closed again since."""
    rows = db.query("SELECT scan_id FROM scans FINAL WHERE finished_at > toDateTime(0) "
                    "AND (scan_id, version) NOT IN (SELECT scan_id, scan_version FROM derived_scans FINAL) "
                    "ORDER BY started_at, scan_id")
    return [str(r[0]) for r in rows]


def derive_closed(db: Database, threshold: int = THRESHOLD) -> bool:
    """At a scan's close: store every closed scan without current stored rows (the one just
    closed, and any whose close could not store them). False as for ``derive``."""
    try:
        return _has_tables(db) and _store(db, unstored(db), threshold)
    except StoreError as exc:
        log.warning("snapshot rows not stored (%s); analyses read the raw rows", exc)
        return False
