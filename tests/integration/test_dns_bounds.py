"""Bounds on MX hosts per domain and addresses per host, against a signed hierarchy served by NSD and
validated by unbound on 127.88.x (``workers.dns.testbed``): one MX RRset of 2,500 names, one host
with 40 A and 20 AAAA records. The queries sent stay bounded, the cut is recorded and stored
(on chdb and on clickhouse-server)."""

from __future__ import annotations

import datetime as dt
import random
import shutil
import tempfile
import time
from collections.abc import Iterator

import pytest

from workers.dns import BatchResult, EngineSettings, load_trust_anchor, probe_batch_sync
from workers.dns.bounds import Bounds
from workers.dns.testbed import Testbed, build
from workers.scan.batch import BatchOutcome, ScanContext, judge, tlsa_evidence
from workers.scan.rows import batch_rows
from workers.store.backend import connect
from workers.store.migrations import Migrator
from workers.store.rows import DaneVerdictRow, DomainRow
from workers.store.writer import Writer

pytestmark = [pytest.mark.clickhouse, pytest.mark.skipif(not (shutil.which("nsd") and shutil.which("unbound")),
                                reason="nsd and unbound are installed by "
                                       "scripts/install-system-packages.sh")]

WIDE = 2500


def _zones() -> dict[str, tuple[str, bool]]:
    order = list(range(WIDE))
    random.Random(11).shuffle(order)  # the zone lists them in no particular order
    wide = "".join(f"@ IN MX {10 + i} m{i}\n" for i in order)
    wide += "".join(f"m{i} IN A 127.89.{i // 250}.{i % 250 + 1}\n" for i in range(WIDE))
    multi = "@ IN MX 10 many\n"
    multi += "".join(f"many IN A 127.89.20.{i}\n" for i in range(1, 41))
    multi += "".join(f"many IN AAAA ::ffff:127.89.21.{i}\n" for i in range(1, 21))
    # unsigned: signed, 2,500 MX records are more than a validator can canonicalize (unbound:
    # "rrset too big"), so the RRset would be bogus and have no targets
    return {"wide": (wide, False), "multi": (multi, True)}


@pytest.fixture(scope="module")
def bed() -> Iterator[Testbed]:
    directory = tempfile.mkdtemp(prefix="dnsbounds-")
    testbed = build(directory, random.randrange(20, 90), int(time.time()), more_domains=_zones())
    yield testbed
    testbed.stop()
    shutil.rmtree(directory, ignore_errors=True)


def _probe(bed: Testbed, bounds: Bounds) -> BatchResult:
    """Asked straight from NSD (authoritative for every zone of the test bed): unbound answers an
    RRset this large with TC and no records, even over TCP."""
    return probe_batch_sync(["wide.test", "multi.test"], EngineSettings(bed.auth, timeout=2.0),
                            time.time(), load_trust_anchor(bed.anchor_file), bounds=bounds)


@pytest.fixture(scope="module")
def bounded(bed: Testbed) -> BatchResult:
    return _probe(bed, Bounds(max_mx_hosts=32, max_addresses=16))


def test_the_mx_bound_cuts_before_any_query_for_the_cut_names(
        bed: Testbed, bounded: BatchResult) -> None:
    wide = next(d for d in bounded.domains if d.domain == "wide.test.")
    assert wide.mx is not None and len(wide.mx.records) == WIDE  # the RRset itself is kept whole
    assert wide.mx_hosts == tuple(f"m{i}.wide.test." for i in range(32))  # preference order
    assert wide.mx_hosts_cut == WIDE - 32
    assert sorted(h.host for h in bounded.hosts) == sorted([*wide.mx_hosts, "many.multi.test."])
    asked = {r.qname for h in bounded.hosts for r in h.queries}
    assert not any(name.startswith(f"m{i}.") for name in asked for i in range(32, WIDE))
    # per host A, AAAA, TLSA and at most two more for an unsigned answer's zone cut; per domain
    # MX, NS, DS, DNSKEY and the zone material: the 2,468 names cut cost nothing
    assert bounded.queries_sent <= 2 * 8 + 33 * 5, bounded.queries_sent


def test_each_host_let_through_costs_queries(bed: Testbed) -> None:
    """The cost the bound saves: at least 3 queries per host looked up (so 7,500 for all 2,500;
    400 here to keep the test short)."""
    wider = _probe(bed, Bounds(max_mx_hosts=400, max_addresses=16))
    wide = next(d for d in wider.domains if d.domain == "wide.test.")
    assert len(wide.mx_hosts) == 400 and wide.mx_hosts_cut == WIDE - 400
    assert wider.queries_sent >= 3 * 400


def test_the_address_bound_is_per_family(bounded: BatchResult) -> None:
    many = next(h for h in bounded.hosts if h.host == "many.multi.test.")
    assert len(many.a.records) == 40 and len(many.aaaa.records) == 20  # kept whole as evidence
    four = [a for a in many.addresses if ":" not in a]
    six = [a for a in many.addresses if ":" in a]
    assert (len(four), len(six), many.addresses_cut) == (16, 16, 24 + 4)


def test_the_cut_is_stored(bounded: BatchResult, db_target: str) -> None:
    ctx = ScanContext(scan_id="bounds", now=dt.datetime.now(dt.UTC).replace(microsecond=0), dns_settings=EngineSettings("127.0.0.1"),
                      anchors=None)
    hosts = tuple(judge(h, tlsa_evidence(h), [], ctx, ()) for h in bounded.hosts)
    host_rows, domain_rows = batch_rows("bounds", BatchOutcome(bounded, hosts), "127.0.0.1",
                                        ctx.now)
    row = next(r for r in domain_rows if isinstance(r, DomainRow) and r.domain == "wide.test")
    assert list(row.mx_preferences) == [10 + i for i in range(32)]
    db = connect(db_target)
    try:
        Migrator(db).apply()
        writer = Writer(db)
        writer.add_many(host_rows)
        writer.add_many(domain_rows)
        writer.close()
        assert db.query("SELECT domain, mx_hosts_cut, length(mx) FROM domains FINAL "
                        "WHERE scan_id = 'bounds' ORDER BY domain") == [
            ("multi.test", 0, 1), ("wide.test", WIDE - 32, 32)]
        cut = db.query("SELECT mx_host, addresses_cut FROM dane_verdicts FINAL "
                       "WHERE scan_id = 'bounds' AND ip = '' AND addresses_cut > 0")
        assert cut == [("many.multi.test", 28)]
        assert sum(1 for r in host_rows if isinstance(r, DaneVerdictRow) and r.ip == "") == 33
    finally:
        db.close()


def test_check_says_what_the_bounds_left_out(bounded: BatchResult) -> None:
    """``danescan check`` on a domain past the bounds: the report says how many MX hosts and
    addresses it did not look at (it judged the rest only)."""
    import dataclasses

    from workers.scan.check import build_report

    ctx = ScanContext(scan_id="bounds", now=dt.datetime.now(dt.UTC).replace(microsecond=0),
                      dns_settings=EngineSettings("127.0.0.1"), anchors=None)
    for name, words in (("wide.test.", f"{WIDE - 32} more MX hosts"),
                        ("multi.test.", "many.multi.test: 28 more addresses")):
        domain = next(d for d in bounded.domains if d.domain == name)
        hosts = tuple(judge(h, tlsa_evidence(h), [], ctx, ()) for h in bounded.hosts
                      if h.host in domain.mx_hosts)
        one = dataclasses.replace(bounded, domains=[domain])
        report = build_report(BatchOutcome(one, hosts), ctx.now, "127.0.0.1")
        assert any(words in n for n in report.notes), report.notes
        assert any(words in n for n in report.to_json()["notes"])
