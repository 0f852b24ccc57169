"""TLD files as real signers write them: every engine of the zone parser finds the same
delegations (NS set, DS presence) in the signed file as in the unsigned input.

dnssec-signzone (BIND, NSEC3 opt-out, as .com/.org) writes the full multi-line format: owners
omitted, records over several lines in parentheses, DS digests in upper case split into words,
trailing comments, NSEC3 owner names. ldns-signzone (NSEC3, as .se) writes one record a line with
tabs. The lab's own NSEC signer is compared too.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from lab import extsign
from lab.build import zone_key
from lab.signer import render_zone
from producer import zonec
from producer.zonefile import ParserOptions, read_zone

NOW = int(dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC).timestamp())
ENGINES = [
    pytest.param("c", marks=pytest.mark.skipif(not zonec.AVAILABLE, reason=str(zonec.UNAVAILABLE))),
    "numpy",
    "careful",
]
SIGNED_BY = [
    pytest.param(m, marks=pytest.mark.skipif(
        shutil.which(s.tool) is None, reason=f"{s.tool} is missing (Debian package {s.package})"))
    for m, s in extsign.SIGNERS.items()
] + ["nsec"]


def tld_records(tld: str, n: int = 300) -> list[tuple[str, int, str, str]]:
    """A TLD the way the lab and registries fill them: delegations with and without DS (some with
    two), out-of-zone and in-zone name servers with glue (A and AAAA), an empty non-terminal,
    names with digits and hyphens."""
    z = f"{tld}."
    recs = [(z, 3600, "SOA", f"ns1.nic.{z} hostmaster.{z} 1000 3600 900 604800 300"),
            (z, 3600, "NS", f"ns1.nic.{z}"), (f"ns1.nic.{z}", 3600, "A", "127.53.0.2")]
    for i in range(n):
        owner = f"d{i}-x{i % 7}.{z}"
        if i % 4 == 0:
            recs += [(owner, 86400, "NS", f"ns1.{owner}"), (owner, 86400, "NS", f"ns2.{owner}"),
                     (f"ns1.{owner}", 86400, "A", "127.53.2.1"),
                     (f"ns2.{owner}", 86400, "AAAA", "::1")]
        else:
            recs += [(owner, 86400, "NS", f"ns{j}.dnsop{i % 5}.net.") for j in (1, 2, 3)[: 1 + i % 3]]
        if i % 3 == 0:
            recs.append((owner, 86400, "DS", zone_key(3, owner).ds(owner)))
        if i % 30 == 0:
            recs.append((owner, 86400, "DS", zone_key(4, owner).ds(owner)))
    return recs


def delegations(path: Path, engine: str) -> set[tuple[str, str, tuple[str, ...], bool]]:
    parser, it = read_zone(path, ParserOptions(strict=engine == "careful"))
    found = {(d.name, d.zone, d.ns, d.has_ds) for d in it}
    assert parser.engine == engine
    st = parser.stats()
    assert st.malformed == 0, st.examples
    assert st.delegations == len(found)  # each delegation once: the signers keep NS and DS together
    return found


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("method", SIGNED_BY)
def test_signed_tld_gives_the_delegations_of_the_unsigned_one(
        method: str, engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if engine != "careful":
        monkeypatch.setenv("DANESCAN_ZONE_ENGINE", engine)
    tld = "se" if method == "nsec3" else "com"
    recs = tld_records(tld)
    unsigned = tmp_path / "unsigned" / f"{tld}.zone"
    unsigned.parent.mkdir()
    unsigned.write_text(render_zone(f"{tld}.", recs, None, NOW))
    signed = tmp_path / f"{tld}.zone"
    key = zone_key(3, tld)
    if method == "nsec":
        signed.write_text(render_zone(f"{tld}.", recs, key, NOW))
    else:
        extsign.sign(method, f"{tld}.", unsigned.read_text(), key, NOW, tmp_path / "work", signed)
    text = signed.read_text()
    if method == "nsec3-optout":  # the shapes this test is about are really there
        assert "DS\t" in text and " (\n" in text and "NSEC3PARAM" in text
        digest_words = [ln.split() for ln in text.splitlines() if ln.startswith("\t\t\t\t\t")]
        assert any(len(w) == 1 and len(w[0]) == 36 and w[0].isupper() for w in digest_words)
    elif method == "nsec3":
        assert "\tNSEC3\t" in text
    want = delegations(unsigned, engine)
    assert len(want) == 300 and sum(d[3] for d in want) == 100
    assert delegations(signed, engine) == want
