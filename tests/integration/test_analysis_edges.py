"""The rollover and management-class SQL on hand-built snapshots (issue 16): the cases the lab does
not produce, each inserted row by row into a fresh chdb database. One test per numbered item of
the issue; every one failed on the SQL before the fix (see queries/DECISIONS.md)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from queries.run import execute
from workers.dane.certs import CertInfo, parse_cert
from workers.store.backend import ChdbDatabase, connect, sql_string
from workers.store.engines import profile
from workers.store.migrations import Migrator, discover
from workers.store.snapshots import CHANGE_TABLES, CLASS_TABLES, derive
from workers.store.snapshots import TABLES as SNAPSHOT_TABLES

pytestmark = [pytest.mark.clickhouse]

BASE = dt.datetime(2026, 3, 1, 10, 0, 0, tzinfo=dt.UTC)
TABLES = ("scans", "domains", "dns_rrsets", "tlsa_records", "starttls_probes", "certificates", "dane_verdicts")
FMT = "%Y-%m-%d %H:%M:%S"


def _at(hour: int) -> dt.datetime:
    return BASE + dt.timedelta(hours=hour)


# -- certificates: an issuer and leaves under it, made once ------------------------------------

def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(cn: str, key: ec.EllipticCurvePrivateKey, issuer: str, signer: ec.EllipticCurvePrivateKey,
          serial: int, ca: bool) -> CertInfo:
    b = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(issuer))
         .public_key(key.public_key()).serial_number(serial)
         .not_valid_before(BASE - dt.timedelta(days=30)).not_valid_after(BASE + dt.timedelta(days=60))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    der = b.sign(signer, hashes.SHA256()).public_bytes(serialization_der())
    info = parse_cert(der)
    assert info is not None
    return info


def serialization_der() -> Any:
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


class Pki:
    def __init__(self) -> None:
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca = _cert("Edge CA", self.ca_key, "Edge CA", self.ca_key, 1, True)
        self.keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(3)]
        self.serial = 10

    def leaf(self, k: int) -> CertInfo:
        self.serial += 1
        return _cert("mx.example", self.keys[k], "Edge CA", self.ca_key, self.serial, False)


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki()


def rec(usage: int, selector: int, mtype: int, cert: CertInfo) -> tuple[int, int, int, str]:
    """A TLSA record designating ``cert``, by the verdict's own rule (CertDigests.association)."""
    return (usage, selector, mtype, cert.association(selector, mtype).hex())


# -- the database ----------------------------------------------------------------------------

class Store:
    def __init__(self, db: ChdbDatabase, stored: bool = False) -> None:
        self.db = db
        self.stored = stored  # each scan's snapshot rows stored, as its close does, before a query
        self.scans: set[int] = set()
        self.changed: set[int] = set()  # scans with rows added since their snapshot rows were stored
        self.certs: set[str] = set()
        self.pending: dict[str, list[str]] = {}  # "INSERT INTO t (cols) VALUES" -> rows, sent by q()

    def _insert(self, head: str, row: str) -> None:
        self.pending.setdefault(head, []).append(row)

    def flush(self) -> None:
        for head, rows in self.pending.items():
            self.db.execute(f"{head} {', '.join(rows)}")
        self.pending.clear()

    def reset(self) -> None:
        for t in (*TABLES, *SNAPSHOT_TABLES, *CHANGE_TABLES, *CLASS_TABLES):
            self.db.execute(f"TRUNCATE TABLE {t}")
        self.scans.clear()
        self.changed.clear()
        self.certs.clear()

    def scan(self, hour: int) -> str:
        sid = f"s{hour}"
        self.changed.add(hour)
        if hour not in self.scans:
            self.scans.add(hour)
            self.db.execute("INSERT INTO scans (scan_id, kind, started_at, status, version) VALUES "
                            f"('{sid}', 'hourly', '{_at(hour).strftime(FMT)}', 'finished', 1)")
        return sid

    def cert(self, c: CertInfo) -> str:
        sha = c.cert_sha256.hex()
        if sha not in self.certs:
            self.certs.add(sha)
            self.db.execute(
                "INSERT INTO certificates (sha256, der, spki_sha256, spki_sha512, version) VALUES "
                f"('{sha}', unhex('{c.der.hex()}'), '{c.spki_sha256.hex()}', '{c.spki_sha512.hex()}', 1)")
        return sha

    def probe(self, hour: int, host: str, ip: str, chain: list[CertInfo] | None) -> None:
        sid = self.scan(hour)
        if chain is None:
            self.db.execute("INSERT INTO starttls_probes (scan_id, mx_host, ip, status, step, version) "
                            f"VALUES ('{sid}', '{host}', '{ip}', 'timeout', 'connect', 1)")
            return
        shas = ", ".join(f"'{self.cert(c)}'" for c in chain)
        self.db.execute("INSERT INTO starttls_probes (scan_id, mx_host, ip, status, step, chain, version) "
                        f"VALUES ('{sid}', '{host}', '{ip}', 'ok', 'handshake', [{shas}], 1)")

    def tlsa(self, hour: int, host: str, records: list[tuple[int, int, int, str]], ttl: int,
             status: str = "secure") -> None:
        sid = self.scan(hour)
        if not records:
            self.verdict(hour, host, 0, "no-tlsa", "no-dane")
            return
        values = ", ".join(f"('{sid}', '{host}', {u}, {s}, {m}, '{d}', {ttl}, '{status}', 1)"
                           for u, s, m, d in records)
        self.db.execute("INSERT INTO tlsa_records (scan_id, mx_host, usage, selector, mtype, data, ttl, "
                        f"dnssec_status, version) VALUES {values}")

    def verdict(self, hour: int, host: str, valid: int, reason: str = "", outcome: str = "dane-valid",
                leaf: CertInfo | None = None) -> None:
        sid = self.scan(hour)
        cert = leaf.cert_sha256.hex() if leaf else ""
        spki = leaf.spki_sha256.hex() if leaf else ""
        self._insert("INSERT INTO dane_verdicts (scan_id, mx_host, ip, valid, reason, rfc_outcome, "
                     "leaf_cert_sha256, leaf_spki_sha256, version) VALUES",
                     f"('{sid}', '{host}', '', {valid}, {sql_string(reason)}, '{outcome}', '{cert}', '{spki}', 1)")

    def domain(self, hour: int, domain: str, mx: list[str], ns: list[str], status: str = "secure") -> None:
        sid = self.scan(hour)

        def reg(name: str) -> str:
            return ".".join(name.split(".")[-2:])

        def arr(xs: list[str]) -> str:
            return "[" + ", ".join(sql_string(x) for x in xs) + "]"

        self._insert(
            "INSERT INTO domains (scan_id, domain, tld, ns, mx, registered, mx_registered, ns_registered, "
            "mx_dnssec_status, version) VALUES",
            f"('{sid}', '{domain}', '{domain.rsplit('.', 1)[-1]}', "
            f"{arr(ns)}, {arr(mx)}, '{reg(domain)}', {arr([reg(h) for h in mx])}, {arr([reg(n) for n in ns])}, "
            f"'{status}', 1)")

    def address(self, hour: int, host: str, ips: list[str]) -> None:
        sid = self.scan(hour)
        recs = "[" + ", ".join(f"'{ip}'" for ip in ips) + "]"
        self._insert("INSERT INTO dns_rrsets (scan_id, qname, qtype, status, records, version) VALUES",
                     f"('{sid}', '{host}', 'A', 'NOERROR', {recs}, 1)")

    def q(self, name: str, **params: Any) -> list[dict[str, Any]]:
        self.flush()
        if self.stored:
            assert derive(self.db, *(f"s{hour}" for hour in sorted(self.changed)))
            self.changed.clear()
        return execute(self.db, name, {k: str(v) for k, v in params.items()}).records()

    def rollovers(self, first: int, last: int) -> list[dict[str, Any]]:
        return self.q("rollovers", since=_at(first).strftime(FMT), until=_at(last).strftime(FMT), threshold=50)


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChdbDatabase]:
    path: Path = tmp_path_factory.mktemp("edges") / "db"
    db = connect(str(path))
    assert isinstance(db, ChdbDatabase)
    Migrator(db, discover(), profile("single")).apply()
    try:
        yield db
    finally:
        db.close()


@pytest.fixture(params=["raw", "stored"])
def store(database: ChdbDatabase, request: pytest.FixtureRequest) -> Store:
    """Every case twice: the views reading the raw rows, and reading the snapshot rows stored at
    each scan's close (workers/store/snapshots.py)."""
    s = Store(database, stored=request.param == "stored")
    s.reset()
    return s


def outcomes(rows: list[dict[str, Any]]) -> dict[tuple[str, int], str]:
    return {(r["mx_host"], int((r["switch_at"] - BASE).total_seconds() // 3600)): r["outcome"] for r in rows}


def host_plan(store: Store, pki: Pki, host: str, hours: range, chains: dict[int, list[CertInfo] | None],
              tlsa: dict[int, list[tuple[int, int, int, str]]], ttl: int | dict[int, int] = 1800,
              ip: str = "192.0.2.1", status: str = "secure") -> None:
    """One host over ``hours``: the chain presented at each hour (carried forward; None = the probe
    failed), the TLSA records at each hour (carried forward)."""
    chain: list[CertInfo] | None = None
    records: list[tuple[int, int, int, str]] = []
    t = ttl if isinstance(ttl, int) else 0
    for h in hours:
        if h in chains:
            chain = chains[h]
        if h in tlsa:
            records = tlsa[h]
        if isinstance(ttl, dict) and h in ttl:
            t = ttl[h]
        store.probe(h, host, ip, chain)
        store.tlsa(h, host, records, t, status)


# -- rollovers -------------------------------------------------------------------------------

def test_item1_every_address_is_judged_and_rolled_up_per_host(store: Store, pki: Pki) -> None:
    """Address .10 (alphabetically first) rolls correctly; .9 switches to a key no record covers."""
    k0, k1, k2 = pki.leaf(0), pki.leaf(1), pki.leaf(2)
    tlsa = {0: [rec(3, 1, 1, k0), rec(3, 1, 1, k1)]}
    for ip, new in (("192.0.2.10", k1), ("192.0.2.9", k2)):
        host_plan(store, pki, "mx.multi.example", range(6), {0: [k0, pki.ca], 3: [new, pki.ca]}, tlsa, ip=ip)
    rows = store.rollovers(0, 5)
    assert outcomes(rows) == {("mx.multi.example", 3): "not-updated"}
    assert sorted(rows[0]["addresses"]) == ["192.0.2.10 correct", "192.0.2.9 not-updated"]


def test_item1_one_address_failing_an_hour_is_no_rollover(store: Store, pki: Pki) -> None:
    """Two addresses present two covered keys; .10 fails at hour 2: nothing changed anywhere."""
    k0, k1 = pki.leaf(0), pki.leaf(1)
    tlsa = {0: [rec(3, 1, 1, k0), rec(3, 1, 1, k1)]}
    host_plan(store, pki, "mx.two.example", range(5), {0: [k0, pki.ca], 2: None, 3: [k0, pki.ca]}, tlsa,
              ip="192.0.2.10")
    host_plan(store, pki, "mx.two.example", range(5), {0: [k1, pki.ca]}, tlsa, ip="192.0.2.9")
    assert store.rollovers(0, 4) == []


def test_item2_a_window_starting_mid_rollover_cannot_judge_it(store: Store, pki: Pki) -> None:
    """Next key published at hour 1, switch at hour 3, TTL 3600: correct; a window from hour 2
    sees the record in its first snapshot and cannot know when it was published."""
    k0, k1 = pki.leaf(0), pki.leaf(1)
    host_plan(store, pki, "mx.mid.example", range(6), {0: [k0, pki.ca], 3: [k1, pki.ca]},
              {0: [rec(3, 1, 1, k0)], 1: [rec(3, 1, 1, k0), rec(3, 1, 1, k1)], 4: [rec(3, 1, 1, k1)]}, ttl=3600)
    assert outcomes(store.rollovers(0, 5)) == {("mx.mid.example", 3): "correct"}
    assert outcomes(store.rollovers(2, 5)) == {("mx.mid.example", 3): "before-window"}


def test_item3_a_renewal_with_the_same_key_is_no_rollover(store: Store, pki: Pki) -> None:
    """3 1 1 of the key; the certificate is renewed with the same key at hour 3."""
    old, new = pki.leaf(0), pki.leaf(0)
    for h in range(6):
        leaf = old if h < 3 else new
        store.verdict(h, "mx.renew.example", 1, leaf=leaf)
    host_plan(store, pki, "mx.renew.example", range(6), {0: [old, pki.ca], 3: [new, pki.ca]},
              {0: [rec(3, 1, 1, old)]}, ttl=3600)
    assert store.rollovers(2, 5) == [] and store.rollovers(0, 5) == []
    renewals = store.q("renewals", since=_at(0).strftime(FMT), until=_at(5).strftime(FMT))
    assert [(r["renewals"], r["new_key"]) for r in renewals] == [(1, 0)]


def test_item3_a_renewal_under_a_certificate_record_is_judged(store: Store, pki: Pki) -> None:
    """3 0 1 pins the certificate: the same-key renewal needed a new record (published in time)."""
    old, new = pki.leaf(0), pki.leaf(0)
    host_plan(store, pki, "mx.pin.example", range(6), {0: [old, pki.ca], 3: [new, pki.ca]},
              {0: [rec(3, 0, 1, old), rec(3, 0, 1, new)], 4: [rec(3, 0, 1, new)]})
    assert outcomes(store.rollovers(0, 5)) == {("mx.pin.example", 3): "correct"}


@pytest.mark.parametrize("form", [(3, 0, 0), (3, 1, 0), (3, 0, 2), (1, 0, 0), (1, 1, 0), (3, 1, 2)])
def test_item4_every_record_form_matches_as_in_the_verdict(store: Store, pki: Pki, form: tuple[int, int, int]) -> None:
    """Textbook current + next under each matching form is correct, never not-updated."""
    u, s, m = form
    k0, k1 = pki.leaf(0), pki.leaf(1)
    host_plan(store, pki, "mx.form.example", range(6), {0: [k0, pki.ca], 3: [k1, pki.ca]},
              {0: [rec(u, s, m, k0), rec(u, s, m, k1)], 4: [rec(u, s, m, k1)]})
    assert outcomes(store.rollovers(0, 5)) == {("mx.form.example", 3): "correct"}


def test_item4_ta_records_of_every_form(store: Store, pki: Pki) -> None:
    """2 0 0 / 2 1 0 / 2 0 2 on the issuer cover the new leaf: correct (3 1 1 + 2 x x)."""
    k0, k1 = pki.leaf(0), pki.leaf(1)
    for i, (s, m) in enumerate(((0, 0), (1, 0), (0, 2))):
        host_plan(store, pki, f"mx.ta{i}.example", range(6), {0: [k0, pki.ca], 3: [k1, pki.ca]},
                  {0: [rec(3, 1, 1, k0), rec(2, s, m, pki.ca)], 4: [rec(3, 1, 1, k1), rec(2, s, m, pki.ca)]})
    assert set(outcomes(store.rollovers(0, 5)).values()) == {"correct"}


def test_item5_a_failed_probe_keeps_the_tlsa_timeline(store: Store, pki: Pki) -> None:
    """Probe fails at hour 2, when the next record appears; switch at 3 with TTL 3600: too-late."""
    k0, k1 = pki.leaf(0), pki.leaf(1)
    host_plan(store, pki, "mx.gap.example", range(6), {0: [k0, pki.ca], 2: None, 3: [k1, pki.ca]},
              {0: [rec(3, 1, 1, k0)], 2: [rec(3, 1, 1, k0), rec(3, 1, 1, k1)], 4: [rec(3, 1, 1, k1)]}, ttl=3600)
    assert outcomes(store.rollovers(0, 5)) == {("mx.gap.example", 3): "too-late"}


def test_item6_old_removed_early_new_at_switch_is_early_retract(store: Store, pki: Pki) -> None:
    k0, k1 = pki.leaf(0), pki.leaf(1)
    host_plan(store, pki, "mx.gone.example", range(6), {0: [k0, pki.ca], 3: [k1, pki.ca]},
              {0: [rec(3, 1, 1, k0)], 2: [], 3: [rec(3, 1, 1, k1)]})
    assert outcomes(store.rollovers(0, 5)) == {("mx.gone.example", 3): "early-retract"}


def test_item6_the_ttl_resolvers_cached_counts(store: Store, pki: Pki) -> None:
    """TTL 7200 until hour 1; the next record arrives at hour 2 with TTL 600; switch at 3. Caches
    still hold the 7200 RRset: too-late, not short-ttl."""
    k0, k1 = pki.leaf(0), pki.leaf(1)
    host_plan(store, pki, "mx.ttl.example", range(6), {0: [k0, pki.ca], 3: [k1, pki.ca]},
              {0: [rec(3, 1, 1, k0)], 2: [rec(3, 1, 1, k0), rec(3, 1, 1, k1)], 4: [rec(3, 1, 1, k1)]},
              ttl={0: 7200, 2: 600})
    rows = store.rollovers(0, 5)
    assert outcomes(rows) == {("mx.ttl.example", 3): "too-late"} and rows[0]["tlsa_ttl"] == 7200


@pytest.mark.parametrize("status", ["bogus", "insecure"])
def test_item6_no_judgement_without_secure_tlsa(store: Store, pki: Pki, status: str) -> None:
    k0, k1 = pki.leaf(0), pki.leaf(1)
    host_plan(store, pki, "mx.bogus.example", range(6), {0: [k0, pki.ca], 3: [k1, pki.ca]},
              {0: [rec(3, 1, 1, k0), rec(3, 1, 1, k1)]}, status=status)
    assert outcomes(store.rollovers(0, 5)) == {("mx.bogus.example", 3): "not-secure"}


def test_item7_per_host_shares_beside_per_change_counts(store: Store, pki: Pki) -> None:
    """Host a: correct then same-time; host b: correct; host c: short-ttl only (not judged)."""
    k0, k1, k2 = pki.leaf(0), pki.leaf(1), pki.leaf(2)
    host_plan(store, pki, "a.example", range(8), {0: [k0, pki.ca], 3: [k1, pki.ca], 6: [k2, pki.ca]},
              {0: [rec(3, 1, 1, k0), rec(3, 1, 1, k1)], 4: [rec(3, 1, 1, k1)], 6: [rec(3, 1, 1, k2)]})
    host_plan(store, pki, "b.example", range(8), {0: [k0, pki.ca], 3: [k1, pki.ca]},
              {0: [rec(3, 1, 1, k0), rec(3, 1, 1, k1)], 4: [rec(3, 1, 1, k1)]})
    host_plan(store, pki, "c.example", range(8), {0: [k0, pki.ca], 3: [k1, pki.ca]},
              {0: [rec(3, 1, 1, k0), rec(3, 1, 1, k1)]}, ttl=600)
    rows = store.q("rollover_outcomes", since=_at(0).strftime(FMT), until=_at(7).strftime(FMT), threshold=50)
    per_change = {r["outcome"]: (r["changes"], r["pct"]) for r in rows if r["dimension"] == "all"}
    assert per_change == {"correct": (2, 66.67), "same-time": (1, 33.33), "short-ttl": (1, None)}
    hosts = {r["outcome"]: (r["changes"], r["pct"]) for r in rows if r["dimension"] == "hosts"}
    assert hosts == {"judged": (2, 100.0), "wrong-at-least-once": (1, 50.0), "ignored-ttl": (1, 50.0),
                     "not-judged": (1, None)}


# -- management classes ----------------------------------------------------------------------

def _classes(store: Store) -> dict[str, str]:
    return {r["domain"]: r["class"] for r in store.q("management_classes", scan_id="s0", threshold=50)}


@pytest.mark.parametrize("load", [49, 50, 51])
def test_item8_rule3_boundary(store: Store, load: int) -> None:
    """mx.prov.net is the MX of ``load`` domains: outsourced only above 50."""
    for i in range(load):
        store.domain(0, f"d{i}.org", ["mx.prov.net"], ["ns.dnsprov.net"])
    for i in range(60):  # the NS provider is busy either way
        store.domain(0, f"n{i}.org", [], ["ns.dnsprov.net"])
    store.verdict(0, "mx.prov.net", 1)
    want = "SO" if load > 50 else "unknown"
    assert set(_classes(store).values()) == {want}


@pytest.mark.parametrize("load", [49, 50, 51])
def test_item8_rule1_boundary(store: Store, load: int) -> None:
    """``load`` MX host names share one address; each is its own domain's: self unless above 50."""
    for i in range(load):
        store.domain(0, f"d{i}.org", [f"mail.d{i}.org"], [f"ns.d{i}.org"])
        store.address(0, f"mail.d{i}.org", ["203.0.113.7"])
        store.verdict(0, f"mail.d{i}.org", 1)
    want = "SO" if load > 50 else "SSDS"
    assert set(_classes(store).values()) == {want}


@pytest.mark.parametrize("load", [49, 50, 51])
def test_item8_ns_rule3_boundary(store: Store, load: int) -> None:
    for i in range(load):
        store.domain(0, f"d{i}.org", [f"mail.d{i}.org"], ["ns.dnsprov.net"])
    store.verdict(0, "mail.d0.org", 1)
    assert _classes(store) == {"d0.org": "SSDO" if load > 50 else "unknown"}


MX_SIDES = {"out": ["mx.prov.net"], "self": ["mail.x.org"], "mixed": ["mx.prov.net", "mail.x.org"],
            "unknown": ["mx.rare.net"]}
NS_SIDES = {"out": ["ns.dnsprov.net"], "self": ["ns.x.org"], "mixed": ["ns.x.org", "ns.dnsprov.net"],
            "unknown": ["ns.rare.net"]}
WANT = {("out", n): "SO" for n in NS_SIDES} | {("mixed", n): "mixed" for n in NS_SIDES} | \
    {("unknown", n): "unknown" for n in NS_SIDES} | \
    {("self", "out"): "SSDO", ("self", "self"): "SSDS", ("self", "mixed"): "SSDS", ("self", "unknown"): "unknown"}


@pytest.mark.parametrize("mx_side,ns_side", sorted(WANT))
def test_item8_every_mx_side_by_ns_side(store: Store, mx_side: str, ns_side: str) -> None:
    for i in range(51):
        store.domain(0, f"p{i}.org", ["mx.prov.net"], ["ns.dnsprov.net"])
    store.domain(0, "x.org", MX_SIDES[mx_side], NS_SIDES[ns_side])
    for h in ("mx.prov.net", "mail.x.org", "mx.rare.net"):
        store.verdict(0, h, 1)
    assert _classes(store)["x.org"] == WANT[(mx_side, ns_side)]


def test_an_excluded_mx_host_is_no_dane_host(store: Store) -> None:
    """A host on the exclusion list (issue 14) was never looked up: it is no TLSA MX host, in
    the deployment table nor among the failures, beside one valid and one failing DANE host."""
    for i, mx in enumerate(["mx.ok.org", "mx.bad.org", "mx.optout.org"]):
        store.domain(0, f"d{i}.org", [mx], ["ns.dnsprov.net"])
    store.verdict(0, "mx.ok.org", 1)
    store.verdict(0, "mx.bad.org", 0, "wrong-digest", "defer")
    store.verdict(0, "mx.optout.org", 0, "excluded", "unknown")
    total = next(r for r in store.q("tld_deployment", scan_id="s0") if r["tld"] == "all")
    assert (total["with_tlsa"], total["tlsa_mx_hosts"], total["invalid_mx_hosts"],
            total["invalid_domains"]) == (2, 2, 1, 1)


# -- the chain changes stored at each close (migration 0016) ---------------------------------

def _rollover_plan(store: Store, pki: Pki) -> None:
    """A correct rollover at hour 3 (next key published at hour 1, old one kept until the switch)
    beside a host that never changes."""
    k0, k1 = pki.leaf(0), pki.leaf(1)
    tlsa = {0: [rec(3, 1, 1, k0)], 1: [rec(3, 1, 1, k0), rec(3, 1, 1, k1)], 4: [rec(3, 1, 1, k1)]}
    host_plan(store, pki, "mx.rolls.example", range(6), {0: [k0, pki.ca], 3: [k1, pki.ca]}, tlsa)
    host_plan(store, pki, "mx.stays.example", range(6), {0: [k0, pki.ca]}, {0: [rec(3, 1, 1, k0)]})


def test_item9_stored_changes_are_read_while_they_match_the_stored_scans(database: ChdbDatabase,
                                                                           pki: Pki) -> None:
    store = Store(database, stored=True)
    store.reset()
    _rollover_plan(store, pki)
    expected = store.rollovers(0, 5)
    assert outcomes(expected) == {("mx.rolls.example", 3): "correct"}
    assert database.query("SELECT scan_id, host FROM chain_changes") == [("s3", "mx.rolls.example")]
    # s4's set found against one stored scan fewer than there now are (it closed while s3 was
    # being stored): the view finds the changes from the chains again
    database.execute("INSERT INTO chain_change_sets SELECT scan_id, derived_version, prior - 1, prev, "
                     "prev_version, version + 1 FROM chain_change_sets FINAL WHERE scan_id = 's4'")
    assert store.rollovers(0, 5) == expected
    # the next close finds s4's changes again, beside its own
    k0, k1 = pki.leaf(0), pki.leaf(1)
    for host, key in (("mx.rolls.example", k1), ("mx.stays.example", k0)):
        store.probe(6, host, "192.0.2.1", [key, pki.ca])
        store.tlsa(6, host, [rec(3, 1, 1, key)], 1800)
    assert store.rollovers(0, 6) == expected
    until = _at(6).strftime(FMT)
    assert database.query(f"SELECT count() FROM current_change_sets(until = '{until}')") == [(7,)]
    # every scan's set matches: the view reads the stored changes, and there are none now
    database.execute("TRUNCATE TABLE chain_changes")
    assert store.rollovers(0, 6) == []


@pytest.mark.parametrize("lookback", [24, 1])
def test_item9_a_scan_stored_late_finds_its_successors_changes_again(database: ChdbDatabase, pki: Pki,
                                                                        lookback: int) -> None:
    """The scans' rows stored in another order than their starts (a store that failed at one
    close is done at a later one), one address failing hours 2 and 3 before it switches key (its
    previous snapshot beyond a lookback of 1): the stored changes are those of the chains read
    raw."""
    store = Store(database, stored=False)
    store.reset()
    _rollover_plan(store, pki)
    k0, k2 = pki.leaf(0), pki.leaf(2)
    host_plan(store, pki, "mx.gap.example", range(6), {0: [k0, pki.ca], 2: None, 4: [k2, pki.ca]},
              {0: [rec(3, 1, 1, k0)], 1: [rec(3, 1, 1, k0), rec(3, 1, 1, k2)]}, ttl=5400)
    raw = store.rollovers(0, 5)  # 2T = 3 h: the 3 h between its snapshots is judged
    assert outcomes(raw) == {("mx.rolls.example", 3): "correct", ("mx.gap.example", 4): "correct"}
    assert [r["interval_s"] for r in raw if r["mx_host"] == "mx.gap.example"] == [3 * 3600]
    for hour in (5, 3, 0, 2, 1, 4):  # s4 last: with lookback 1 its gap address is an orphan
        assert derive(database, f"s{hour}", lookback=lookback)
    assert store.rollovers(0, 5) == raw
    assert sorted(database.query("SELECT scan_id, host FROM chain_changes FINAL WHERE (scan_id, version) IN "
                                 "(SELECT scan_id, version FROM chain_change_sets FINAL)")) == [
        ("s3", "mx.rolls.example"), ("s4", "mx.gap.example")]
    database.execute("TRUNCATE TABLE chain_changes")
    assert store.rollovers(0, 5) == []  # the answer above was read from the stored changes


# -- the management classes stored at each close (migration 0017) ----------------------------

def test_item10_stored_classes_are_read_while_current(database: ChdbDatabase) -> None:
    """The classes, validity and reasons of a scan read from the rows stored at its close, the
    same as classified from the raw rows; classified again at another threshold, and once the
    scan's row changed (closed again after a resume)."""
    store = Store(database, stored=False)
    store.reset()
    for i in range(51):
        store.domain(0, f"p{i}.org", ["mx.prov.net"], ["ns.dnsprov.net"])
    store.domain(0, "self.org", ["mail.self.org"], ["ns.self.org"])
    store.domain(0, "bogus.org", ["mail.bogus.org"], ["ns.dnsprov.net"], status="bogus")
    store.domain(0, "two.org", ["mx.prov.net", "mail.two.org"], ["ns.two.org"])
    store.verdict(0, "mx.prov.net", 1)
    store.verdict(0, "mail.self.org", 0, "wrong-digest", "defer")
    store.verdict(0, "mail.bogus.org", 1)
    store.verdict(0, "mail.two.org", 0, "no-address", "defer")
    raw = store.q("management_classes", scan_id="s0", threshold=50)
    got = {r["domain"]: (r["class"], r["valid"], r["reason"]) for r in raw}
    assert got["p0.org"] == ("SO", 1, "")
    assert got["self.org"] == ("SSDS", 0, "wrong-digest")
    assert got["bogus.org"] == ("SSDO", 0, "dnssec-bogus")
    assert got["two.org"] == ("mixed", 0, "no-address")
    validity = store.q("management_validity", scan_id="s0", threshold=50)
    assert derive(database, "s0")
    assert database.query("SELECT count() FROM class_snapshots") == [(len(raw),)]
    assert store.q("management_classes", scan_id="s0", threshold=50) == raw
    assert store.q("management_validity", scan_id="s0", threshold=50) == validity
    database.execute("TRUNCATE TABLE class_snapshots")  # the answer is read from the stored rows
    assert store.q("management_classes", scan_id="s0", threshold=50) == []
    assert {r["domain"] for r in store.q("management_classes", scan_id="s0", threshold=60)} == set(got)
    # s0 resumed and closed again: its stored rows belong to its previous row
    database.execute("INSERT INTO scans (scan_id, kind, started_at, status, version) VALUES "
                     f"('s0', 'hourly', '{_at(0).strftime(FMT)}', 'finished', 2)")
    assert store.q("management_classes", scan_id="s0", threshold=50) == raw
    assert store.q("management_validity", scan_id="s0", threshold=50) == validity
