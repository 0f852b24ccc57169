"""Path building: long chains, hostile chains (bounded work), anchors, PKIX paths."""

from __future__ import annotations

import pytest

from tests.unit.test_dane_pki import NOW, Issued, ec_key, issue
from workers.dane import TlsaEvidence, TlsEvidence, TrustStore, dane_verdict
from workers.dane import chain as chain_mod
from workers.dane.certs import parse_chain
from workers.dane.chain import PathWork, dane_ta_path, pkix_path, work_for
from workers.vocab import DaneReason, SmtpStatus

HOST = "mx.long.example"


def long_chain(length: int) -> list[Issued]:
    """leaf first: leaf, CA 1, ..., CA n-2, root (``length`` certificates)."""
    certs = [issue("Root", ca=True)]
    for i in range(length - 2):
        certs.append(issue(f"CA {i}", certs[-1], ca=True))
    certs.append(issue(HOST, certs[-1]))
    return certs[::-1]


@pytest.fixture(scope="module")
def chain50() -> list[Issued]:
    return long_chain(50)


class CountingSignatures:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = chain_mod.signature_ok

        def counted(child, key):  # type: ignore[no-untyped-def]
            self.calls += 1
            return real(child, key)

        monkeypatch.setattr(chain_mod, "signature_ok", counted)


def test_fifty_certificates_anchor_at_the_root(
    chain50: list[Issued], monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = CountingSignatures(monkeypatch)
    v = dane_verdict(
        HOST,
        TlsaEvidence.of([chain50[-1].tlsa(2, 1, 1)]),
        TlsEvidence(SmtpStatus.OK, tuple(c.der for c in chain50)),
        NOW,
    )
    assert (v.valid, v.depth) == (True, 49)
    assert counter.calls <= 2 * len(chain50)  # one check per link, nothing quadratic
    assert len(v.chain_sha256) == 50


def test_fifty_certificates_sent_in_reverse_order(chain50: list[Issued]) -> None:
    ders = [chain50[0].der, *(c.der for c in reversed(chain50[1:]))]
    v = dane_verdict(
        HOST, TlsaEvidence.of([chain50[25].tlsa(2, 0, 1)]), TlsEvidence(SmtpStatus.OK, ders), NOW
    )
    assert (v.valid, v.depth) == (True, 25)


def test_hostile_chain_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """40 CAs that all share one name and one key: every one 'issues' every other."""
    key = ec_key()
    seed = issue("Loop", key=key, ca=True)
    loop = [issue("Loop", seed, key=key, ca=True) for _ in range(39)]
    leaf = issue(HOST, seed)
    unrelated = issue("Unrelated", ca=True)
    counter = CountingSignatures(monkeypatch)
    certs = parse_chain([leaf.der, *(c.der for c in loop), seed.der])
    work = PathWork(NOW, work_for(len(certs.certs)))
    found = dane_ta_path(certs.certs, [], None, work)
    assert found is None
    assert work.budget < 0  # the search was cut off, not run through 40! orderings
    assert counter.calls <= len(certs.certs) ** 2  # each (child, issuer) pair checked once
    v = dane_verdict(
        HOST,
        TlsaEvidence.of([unrelated.tlsa(2, 1, 1)]),
        TlsEvidence(SmtpStatus.OK, tuple(c.der for c in [leaf, *loop, seed])),
        NOW,
    )
    assert v.reason is DaneReason.NO_MATCH


def test_pkix_path_uses_store_root_not_sent(chain50: list[Issued]) -> None:
    short = long_chain(4)
    certs = parse_chain([c.der for c in short[:-1]])
    store = TrustStore.from_der([short[-1].der])
    path = pkix_path(certs.certs, (), store, PathWork(NOW, 1000))
    assert path is not None
    assert [p.der for p in path] == [c.der for c in short]
    assert (
        pkix_path(certs.certs, (), TrustStore.from_der([chain50[-1].der]), PathWork(NOW, 1000))
        is None
    )


def test_pkix_intermediate_from_dns_completes_the_chain() -> None:
    short = long_chain(3)
    leaf, inter, root = short
    store = TrustStore.from_der([root.der])
    v = dane_verdict(
        HOST,
        TlsaEvidence.of([leaf.tlsa(1, 1, 1), inter.tlsa(0, 0, 0)]),
        TlsEvidence(SmtpStatus.OK, (leaf.der,)),
        NOW,
        trust_store=store,
    )
    assert (v.paper_valid, v.paper_depth, v.valid) == (True, 0, False)


def test_bare_key_anchor_must_have_signed_the_chain() -> None:
    leaf, inter, _root = long_chain(3)
    stranger = issue("Stranger", ca=True)
    ok = dane_verdict(
        HOST, TlsaEvidence.of([inter.tlsa(2, 1, 0)]), TlsEvidence(SmtpStatus.OK, (leaf.der,)), NOW
    )
    assert (ok.valid, ok.depth) == (True, 0)
    bad = dane_verdict(
        HOST,
        TlsaEvidence.of([stranger.tlsa(2, 1, 0)]),
        TlsEvidence(SmtpStatus.OK, (leaf.der,)),
        NOW,
    )
    assert (bad.valid, bad.reason) == (False, DaneReason.NO_MATCH)
