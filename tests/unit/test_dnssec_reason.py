"""The DNSSEC reason checks on RRsets signed here with dns.dnssec: no I/O."""

from __future__ import annotations

import dataclasses

import dns.dnssec
import dns.name
import dns.rdata
import dns.rdatatype
import dns.rrset
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from workers.dns import dnssec_reason as dr
from workers.vocab import DnssecReason

NOW = 1_700_000_000
DAY = 86400
ZONE = dns.name.from_text("example.test.")
PARENT = dns.name.from_text("test.")


@dataclasses.dataclass
class Keyed:
    zone: dns.name.Name
    key: ec.EllipticCurvePrivateKey
    dnskey: dns.rdata.Rdata

    @property
    def rrset(self) -> dns.rrset.RRset:
        return dns.rrset.from_rdata_list(self.zone, 3600, [self.dnskey])


def keyed(zone: dns.name.Name) -> Keyed:
    key = ec.generate_private_key(ec.SECP256R1())
    dnskey = dns.dnssec.make_dnskey(key.public_key(), dns.dnssec.Algorithm.ECDSAP256SHA256,
                                    flags=257)
    return Keyed(zone, key, dnskey)


def sign(rrset: dns.rrset.RRset, k: Keyed, inception: int = NOW - DAY,
         expiration: int = NOW + DAY) -> dns.rrset.RRset:
    sig = dns.dnssec.sign(rrset, k.key, k.zone, k.dnskey, inception=inception,
                          expiration=expiration)
    return dns.rrset.from_rdata_list(rrset.name, rrset.ttl, [sig])


def mx_rrset() -> dns.rrset.RRset:
    return dns.rrset.from_text(ZONE, 300, "IN", "MX", "10 mx.example.test.")


def test_valid_signature_is_ok() -> None:
    k = keyed(ZONE)
    rr = mx_rrset()
    assert dr.signature_finding(rr, sign(rr, k), ZONE, k.rrset, NOW).ok


def test_expired() -> None:
    k = keyed(ZONE)
    rr = mx_rrset()
    sigs = sign(rr, k, inception=NOW - 3 * DAY, expiration=NOW - DAY)
    found = dr.signature_finding(rr, sigs, ZONE, k.rrset, NOW)
    assert found.reason is DnssecReason.SIGNATURE_EXPIRED
    assert found.zone == "example.test."
    # the same evidence judged at a time when it was valid: time is a parameter
    assert dr.signature_finding(rr, sigs, ZONE, k.rrset, NOW - 2 * DAY).ok


def test_not_yet_valid() -> None:
    k = keyed(ZONE)
    rr = mx_rrset()
    sigs = sign(rr, k, inception=NOW + DAY, expiration=NOW + 2 * DAY)
    assert dr.signature_finding(rr, sigs, ZONE, k.rrset, NOW).reason is (
        DnssecReason.SIGNATURE_NOT_YET_VALID)


def test_bad_signature() -> None:
    k = keyed(ZONE)
    sigs = sign(mx_rrset(), k)
    tampered = dns.rrset.from_text(ZONE, 300, "IN", "MX", "10 evil.example.test.")
    found = dr.signature_finding(tampered, sigs, ZONE, k.rrset, NOW)
    assert found.reason is DnssecReason.SIGNATURE_INVALID


def test_missing_rrsig() -> None:
    k = keyed(ZONE)
    assert dr.signature_finding(mx_rrset(), None, ZONE, k.rrset, NOW).reason is (
        DnssecReason.RRSIG_MISSING)
    # an RRSIG over another type does not count
    other = sign(dns.rrset.from_text(ZONE, 300, "IN", "TXT", '"x"'), k)
    assert dr.signature_finding(mx_rrset(), other, ZONE, k.rrset, NOW).reason is (
        DnssecReason.RRSIG_MISSING)


def test_no_matching_dnskey() -> None:
    signer, other = keyed(ZONE), keyed(ZONE)
    rr = mx_rrset()
    found = dr.signature_finding(rr, sign(rr, signer), ZONE, other.rrset, NOW)
    assert found.reason is DnssecReason.NO_MATCHING_DNSKEY


def test_unknown_algorithm() -> None:
    k = keyed(ZONE)
    rr = mx_rrset()
    good = sign(rr, k)[0]
    odd = good.replace(algorithm=200)
    sigs = dns.rrset.from_rdata_list(ZONE, 300, [odd])
    assert dr.signature_finding(rr, sigs, ZONE, k.rrset, NOW).reason is (
        DnssecReason.UNSUPPORTED_ALGORITHM)


def test_one_good_signature_is_enough() -> None:
    k = keyed(ZONE)
    rr = mx_rrset()
    expired = sign(rr, k, inception=NOW - 3 * DAY, expiration=NOW - DAY)[0]
    good = sign(rr, k)[0]
    sigs = dns.rrset.from_rdata_list(ZONE, 300, [expired, good])
    assert dr.signature_finding(rr, sigs, ZONE, k.rrset, NOW).ok


def material(k: Keyed, parent: Keyed, ds_of: Keyed | None = None,
             ds_digest: int = 2) -> dr.ZoneMaterial:
    ds = dns.dnssec.make_ds(k.zone, (ds_of or k).dnskey, ds_digest)
    ds_rrset = dns.rrset.from_rdata_list(k.zone, 3600, [ds])
    return dr.ZoneMaterial(k.zone, k.rrset, sign(k.rrset, k), ds_rrset, sign(ds_rrset, parent))


def root_material(p: Keyed) -> dr.ZoneMaterial:
    return dr.ZoneMaterial(p.zone, p.rrset, sign(p.rrset, p), None)


def test_chain_ok_and_ds_mismatch() -> None:
    parent, child, stranger = keyed(PARENT), keyed(ZONE), keyed(ZONE)
    rr = mx_rrset()
    good = [root_material(parent), material(child, parent)]
    assert dr.chain_finding(good, rr, sign(rr, child), NOW).ok
    bad = [root_material(parent), material(child, parent, ds_of=stranger)]
    found = dr.chain_finding(bad, rr, sign(rr, child), NOW)
    assert found.reason is DnssecReason.DS_MISMATCH
    assert found.zone == "example.test."


def test_chain_reports_the_topmost_break() -> None:
    parent, child = keyed(PARENT), keyed(ZONE)
    rr = mx_rrset()
    m = material(child, parent)
    expired_ds = dataclasses.replace(
        m, ds_rrsigs=sign(m.ds, parent, inception=NOW - 3 * DAY, expiration=NOW - DAY)
        if m.ds is not None else None)
    found = dr.chain_finding([root_material(parent), expired_ds], rr, None, NOW)
    assert found.reason is DnssecReason.SIGNATURE_EXPIRED
    assert found.zone == "test."


def test_trust_anchor_mismatch() -> None:
    parent, child, other = keyed(PARENT), keyed(ZONE), keyed(PARENT)
    rr = mx_rrset()
    anchors = dns.rrset.from_rdata_list(PARENT, 0, [dns.dnssec.make_ds(PARENT, other.dnskey, 2)])
    chain = [root_material(parent), material(child, parent)]
    assert dr.chain_finding(chain, rr, sign(rr, child), NOW, anchors).reason is (
        DnssecReason.DS_MISMATCH)


def test_dnskey_not_signed_by_ds_key() -> None:
    parent, child, zsk = keyed(PARENT), keyed(ZONE), keyed(ZONE)
    m = material(child, parent)
    both = dns.rrset.from_rdata_list(ZONE, 3600, [child.dnskey, zsk.dnskey])
    only_zsk_sig = dataclasses.replace(m, dnskey=both, dnskey_rrsigs=sign(both, zsk))
    found, matched = dr.ds_finding(only_zsk_sig, NOW)
    assert matched == frozenset({dns.dnssec.key_id(child.dnskey)})
    assert found.reason is DnssecReason.NO_MATCHING_DNSKEY


def test_unsupported_ds_digest() -> None:
    parent, child = keyed(PARENT), keyed(ZONE)
    m = material(child, parent)
    assert m.ds is not None
    odd = dns.rrset.from_rdata_list(ZONE, 3600, [m.ds[0].replace(digest_type=99)])
    found, _ = dr.ds_finding(dataclasses.replace(m, ds=odd), NOW)
    assert found.reason is DnssecReason.UNSUPPORTED_ALGORITHM


@pytest.mark.parametrize(
    ("has_key", "ds", "secure", "reason"),
    [
        (False, False, True, DnssecReason.UNSIGNED),
        (False, False, False, DnssecReason.UNSIGNED),
        (True, False, True, DnssecReason.MISSING_DS),
        (True, False, False, DnssecReason.INSECURE_DELEGATION),
        (True, True, False, DnssecReason.INSECURE_DELEGATION),
        (True, True, True, DnssecReason.INSECURE_OTHER),
    ],
)
def test_insecure_reasons(has_key: bool, ds: bool, secure: bool, reason: DnssecReason) -> None:
    k = keyed(ZONE)
    made = dns.dnssec.make_ds(ZONE, k.dnskey, 2)
    forms = [(int(made.algorithm), int(made.digest_type), len(made.digest))] if ds else None
    finding = dr.insecure_finding(ZONE.to_text(), has_key, forms, secure)
    assert finding.reason is reason and finding.zone == ZONE.to_text()


@pytest.mark.parametrize(("form", "usable"), [
    ((13, 2, 32), True), ((8, 1, 20), True), ((13, 4, 48), True),
    ((13, 2, 20), False),  # a SHA-256 digest 20 bytes long matches no key
    ((13, 3, 32), False),  # GOST: not supported
    ((3, 2, 32), False),   # DSA: not supported
    ((13, 0, 0), False),
])
def test_usable_ds(form: tuple[int, int, int], usable: bool) -> None:
    assert dr.usable_ds(*form) is usable
    finding = dr.insecure_finding("example.", True, [form], True)
    assert finding.reason is (DnssecReason.INSECURE_OTHER if usable else DnssecReason.UNSUPPORTED_ALGORITHM)


def test_material_that_could_not_be_fetched_is_no_evidence() -> None:
    """A DNSKEY lookup that failed must not read as "the parent has DS but the zone has no
    DNSKEY" (ds-mismatch): it is a lookup failure."""
    parent, child = keyed(PARENT), keyed(ZONE)
    rr = mx_rrset()
    m = dataclasses.replace(material(child, parent), dnskey=None, dnskey_rrsigs=None,
                            failed="DNSKEY lookup of example.test. failed (TIMEOUT)")
    found = dr.chain_finding([root_material(parent), m], rr, sign(rr, child), NOW)
    assert found.reason is DnssecReason.LOOKUP_FAILED
    assert "TIMEOUT" in found.detail
    # the same material, answered, is a real DS mismatch
    answered = dataclasses.replace(m, failed="")
    assert dr.chain_finding([root_material(parent), answered], rr, sign(rr, child),
                            NOW).reason is DnssecReason.DS_MISMATCH


def test_chain_stopping_at_a_zone_without_ds_is_provably_insecure_not_bogus() -> None:
    """The walk up stops at a zone whose parent has no DS for it: the RRset is insecure, so the
    resolver's SERVFAIL was an upstream failure (rate limiting), not a validation failure."""
    parent, child = keyed(PARENT), keyed(ZONE)
    rr = mx_rrset()
    anchors = dns.rrset.from_rdata_list(PARENT, 0, [dns.dnssec.make_ds(PARENT, parent.dnskey, 2)])
    unsigned = dr.ZoneMaterial(ZONE, None, None, None)
    found = dr.chain_finding([unsigned], rr, None, NOW, anchors)
    assert found.reason is DnssecReason.LOOKUP_FAILED
    signed_no_ds = dr.ZoneMaterial(ZONE, child.rrset, sign(child.rrset, child), None)
    assert dr.chain_finding([signed_no_ds], rr, sign(rr, child), NOW,
                            anchors).reason is DnssecReason.LOOKUP_FAILED
    # a chain that does reach the anchor still finds the real break
    assert dr.chain_finding([root_material(parent), material(child, parent, ds_of=keyed(ZONE))],
                            rr, sign(rr, child), NOW, anchors).reason is DnssecReason.DS_MISMATCH
