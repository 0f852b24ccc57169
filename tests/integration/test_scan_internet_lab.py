"""The Internet-shaped lab (lab/internet.py) scanned end to end equals its truth for every domain
and MX host: mostly unsigned zones served by PowerDNS, NSEC3 opt-out .com, heavy-tailed hosting,
lame, slow, REFUSED, SERVFAIL and unresolvable name servers, odd MX targets."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import plan as pl
from lab.control import listener_ips, needed_addresses
from lab.paths import LabPaths
from lab.servers import check_free
from tests.integration.lab_fixtures import LabHandle, running_lab
from tests.integration.test_scan_lab import compare, scan_lab

pytestmark = [pytest.mark.lab, pytest.mark.clickhouse, pytest.mark.slow]

DOMAINS = int(os.environ.get("DANESCAN_TEST_INTERNET_DOMAINS", "20000"))


@pytest.fixture(scope="module")
def internet_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabHandle]:
    d = tmp_path_factory.mktemp("internet-lab")
    with running_lab(d, domains=DOMAINS, seed=5, shape="internet") as handle:
        yield handle
    # 'lab down' (the context's exit) leaves nothing listening: NSD (both), PowerDNS, the fault
    # injectors, unbound and the mail servers
    manifest = json.loads((d / "lab.json").read_text())
    dns_ips = tuple(ip for ips in manifest["servers"].values() for ip in ips)
    assert set(manifest["servers"]) == {"nsd", "refused", "pdns", "drop", "slow"}
    check_free(needed_addresses(pl.Net(int(manifest["slot"])), listener_ips(LabPaths(d)),
                                dns_ips))


def test_internet_lab_scan_equals_truth(internet_lab: LabHandle, tmp_path: Path) -> None:
    db = scan_lab(internet_lab, str(tmp_path / "db"), "internet", batch_size=DOMAINS)
    try:
        truth = internet_lab.truth()
        # the lab holds what the issue asks for, so that the comparison below means something
        faults = Counter(t["fault"] for t in truth.domains.values())
        assert all(faults[f] > 0 for f in ("lame-all", "lame-one", "refused-all", "refused-one",
                                           "slow", "gone-all", "gone-one", "servfail-all"))
        assert sum(1 for h in truth.hosts.values() if h["tlsa"]) > 100
        wrong = compare(db, internet_lab, "internet")
        by_kind = Counter((w[0], w[2] if len(w) > 2 else "") for w in wrong)
        if wrong:
            pytest.fail(f"{len(wrong)} differences from the truth: {dict(by_kind)}\n"
                        + "\n".join(map(str, wrong[:30])), pytrace=False)
    finally:
        db.close()
