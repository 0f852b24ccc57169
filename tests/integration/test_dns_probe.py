"""The DNS probe against a signed hierarchy served by NSD and validated by unbound on 127.88.x."""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from collections.abc import Iterator

import pytest

from workers.dns import (
    BatchResult,
    DomainInput,
    EngineSettings,
    load_trust_anchor,
    probe_batch_sync,
)
from workers.dns.testbed import Testbed, build
from workers.vocab import DnssecReason, DnssecStatus, QueryStatus

pytestmark = pytest.mark.skipif(not (shutil.which("nsd") and shutil.which("unbound")),
                                reason="nsd and unbound are installed by "
                                       "scripts/install-system-packages.sh")


@pytest.fixture(scope="module")
def bed() -> Iterator[Testbed]:
    directory = tempfile.mkdtemp(prefix="dnsprobe-")
    testbed = build(directory, random.randrange(100, 250), int(time.time()))
    yield testbed
    testbed.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def result(bed: Testbed) -> BatchResult:
    names: list[DomainInput | str] = [DomainInput(e.domain) for e in bed.expected]
    names += ["nonexistent.test", "bad name.test", "x" * 64 + ".test", "bücher.test"]
    return probe_batch_sync(names, EngineSettings(bed.resolver, timeout=1.0), time.time(),
                            load_trust_anchor(bed.anchor_file))


def test_every_scenario_has_the_expected_status_and_reason(
        bed: Testbed, result: BatchResult) -> None:
    by_name = {d.domain: d for d in result.domains}
    for e in bed.expected:
        d = by_name[e.domain]
        assert d.mx is not None
        assert (d.domain, d.mx.dnssec_status, d.mx.dnssec_reason) == (
            e.domain, e.status, e.reason), d.mx.detail
        assert d.mx_hosts == e.mx


def test_mx_shapes(result: BatchResult) -> None:
    by_name = {d.domain: d for d in result.domains}
    assert by_name["nullmx.test."].null_mx and not by_name["nullmx.test."].mx_hosts
    assert by_name["nomx.test."].implicit_mx
    nx = by_name["nonexistent.test."]
    assert nx.nxdomain and not nx.mx_hosts
    assert nx.mx is not None and nx.mx.dnssec_status is DnssecStatus.SECURE  # signed denial
    bogus = by_name["expired.test."]
    assert bogus.mx is not None and bogus.mx.from_cd and bogus.mx.records
    assert bogus.mx.query_status is QueryStatus.SERVFAIL


def test_bad_input_is_recorded_and_the_batch_goes_on(result: BatchResult) -> None:
    refused = [d for d in result.domains if d.error]
    assert {d.input.name for d in refused} == {"bad name.test", "x" * 64 + ".test"}
    idn = [d for d in result.domains if d.input.name == "bücher.test"]
    assert idn[0].domain == "xn--bcher-kva.test."
    assert idn[0].mx is not None and idn[0].mx.query_status is QueryStatus.NXDOMAIN


def test_hosts_once_each_with_tlsa(result: BatchResult) -> None:
    hosts = {h.host: h for h in result.hosts}
    assert len(hosts) == len(result.hosts)
    good = hosts["mx.good.test."]
    assert good.tlsa.dnssec_status is DnssecStatus.SECURE and good.tlsa.records
    assert good.addresses == ("127.25.88.1",)
    # secure CNAME chain: TLSA base is the expanded name; the original is kept too
    alias = hosts["mail.cname.test."]
    assert alias.cname_target == "mx.good.test."
    assert alias.tlsa_base == "_25._tcp.mx.good.test."
    assert alias.tlsa.records == good.tlsa.records
    assert alias.tlsa_original is not None and not alias.tlsa_original.records
    nods = hosts["mx.nods.test."]
    assert (nods.a.dnssec_status, nods.a.dnssec_reason) == (
        DnssecStatus.INSECURE, DnssecReason.MISSING_DS)
    assert nods.tlsa.query_status is QueryStatus.NXDOMAIN and not nods.tlsa.failed
    unsigned = hosts["mx.unsigned.test."]
    assert unsigned.tlsa.dnssec_reason is DnssecReason.UNSIGNED


def test_query_records_carry_provenance(bed: Testbed, result: BatchResult) -> None:
    d = next(d for d in result.domains if d.domain == "good.test.")
    assert {q.qtype for q in d.queries} >= {"MX", "NS", "DS", "DNSKEY"}
    mx = next(q for q in d.queries if q.qtype == "MX")
    assert mx.ad and mx.attempts == 1 and mx.resolver == bed.resolver
    assert any(" RRSIG " in line for line in mx.answer)


def test_unanswering_resolver_gives_timeouts_not_empty_answers() -> None:
    import socket

    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind((f"127.88.{random.randrange(1, 99)}.9", 0))
    try:
        addr, port = sink.getsockname()
        res = probe_batch_sync(["good.test"],
                               EngineSettings(f"{addr}:{port}", timeout=0.05, retries=1),
                               time.time())
    finally:
        sink.close()
    d = res.domains[0]
    assert d.mx is not None
    assert d.mx.query_status is QueryStatus.TIMEOUT
    assert d.mx.dnssec_status is DnssecStatus.INDETERMINATE
    assert d.mx.dnssec_reason is DnssecReason.LOOKUP_FAILED
    assert d.mx_hosts == ()
    assert all(q.attempts == 2 for q in d.queries)
    assert res.queries_sent == 8  # 4 queries x 2 attempts, nothing more
