"""Why an RRset is insecure or bogus: the project's own checks of material fetched with CD set.

Pure functions on dnspython RRsets and a scan time ``now``. A validating resolver decides the
status (the AD bit, what Postfix trusts); these checks explain it. The chain is checked top-down
(trust anchor, then each zone's DS against its DNSKEYs and the DNSKEY self-signature, then the
RRset), and the first broken link is the reason, the way a validator stops at the first failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import dns.dnssec
import dns.exception
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from dns.rdtypes.ANY.DNSKEY import DNSKEY
from dns.rdtypes.ANY.DS import DS
from dns.rdtypes.ANY.RRSIG import RRSIG

from workers.vocab import DnssecReason

# What dnspython (and unbound) can validate. RFC 4035 5.2: a DS RRset whose algorithms or digest
# types are all unsupported makes the zone insecure, not bogus.
SUPPORTED_ALGORITHMS = frozenset({5, 7, 8, 10, 13, 14, 15, 16})
# the DS digest types it supports, with the length of their digest (SHA-1, SHA-256, SHA-384)
DIGEST_LENGTHS = {1: 20, 2: 32, 4: 48}


@dataclass(frozen=True)
class Finding:
    reason: DnssecReason
    zone: str = ""
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.reason is DnssecReason.NONE


OK = Finding(DnssecReason.NONE)


@dataclass(frozen=True)
class ZoneMaterial:
    """One zone of the chain, fetched with CD set. ``ds`` lives in the parent (None at the root
    or when the parent has none); ``ds_rrsigs`` are the parent's signatures over it.
    ``failed``: what could not be fetched (a DNSKEY or DS lookup that was not answered, a parent
    zone that could not be found); empty when everything was answered. Material that could not
    be fetched is no evidence of a validation failure."""

    zone: dns.name.Name
    dnskey: dns.rrset.RRset | None
    dnskey_rrsigs: dns.rrset.RRset | None
    ds: dns.rrset.RRset | None
    ds_rrsigs: dns.rrset.RRset | None = None
    failed: str = ""


def _sigs(rrsigs: dns.rrset.RRset | None, covered: int) -> list[RRSIG]:
    if rrsigs is None:
        return []
    return [r for r in rrsigs if isinstance(r, RRSIG) and r.type_covered == covered]


def signature_finding(
    rrset: dns.rrset.RRset,
    rrsigs: dns.rrset.RRset | None,
    zone: dns.name.Name,
    dnskey: dns.rrset.RRset | None,
    now: float,
    only_keys: frozenset[int] | None = None,
) -> Finding:
    """Does any RRSIG over ``rrset`` validate with a DNSKEY of ``zone`` at ``now``?

    ``only_keys``: restrict to these key tags (the DS-matched keys for a DNSKEY RRset). When no
    signature validates, the reason of the most telling failure is returned (a signature whose
    key exists and that failed on time or crypto beats "no matching key").
    """
    zone_text = zone.to_text()
    sigs = [s for s in _sigs(rrsigs, rrset.rdtype) if s.signer == zone]
    if not sigs:
        others = {s.signer.to_text() for s in _sigs(rrsigs, rrset.rdtype)}
        detail = f"no RRSIG over {rrset.name} {dns.rdatatype.to_text(rrset.rdtype)}"
        if others:
            detail += f" by {zone_text} (signers: {', '.join(sorted(others))})"
        return Finding(DnssecReason.RRSIG_MISSING, zone_text, detail)
    keys = [k for k in (dnskey or []) if isinstance(k, DNSKEY)]
    ranked: list[tuple[int, Finding]] = []
    for sig in sigs:
        what = f"RRSIG {dns.rdatatype.to_text(sig.type_covered)} alg {sig.algorithm} tag {sig.key_tag}"
        if int(sig.algorithm) not in SUPPORTED_ALGORITHMS:
            ranked.append((2, Finding(DnssecReason.UNSUPPORTED_ALGORITHM, zone_text,
                                      f"{what}: algorithm not supported")))
            continue
        candidates = [k for k in keys if k.algorithm == sig.algorithm
                      and dns.dnssec.key_id(k) == sig.key_tag
                      and (only_keys is None or sig.key_tag in only_keys)]
        if not candidates:
            ranked.append((1, Finding(DnssecReason.NO_MATCHING_DNSKEY, zone_text,
                                      f"{what}: no DNSKEY of {zone_text} has that tag and algorithm")))
            continue
        if sig.expiration < now:
            ranked.append((4, Finding(DnssecReason.SIGNATURE_EXPIRED, zone_text,
                                      f"{what}: expired at {sig.expiration}, scan time {int(now)}")))
            continue
        if sig.inception > now:
            ranked.append((4, Finding(DnssecReason.SIGNATURE_NOT_YET_VALID, zone_text,
                                      f"{what}: valid from {sig.inception}, scan time {int(now)}")))
            continue
        key_rrset = dns.rrset.from_rdata_list(zone, 0, candidates)
        try:
            dns.dnssec.validate_rrsig(rrset, sig, {zone: key_rrset}, now=now,
                                      policy=dns.dnssec.allow_all_policy)
        except dns.exception.UnsupportedAlgorithm as exc:
            ranked.append((2, Finding(DnssecReason.UNSUPPORTED_ALGORITHM, zone_text,
                                      f"{what}: {exc}")))
            continue
        except dns.exception.ValidationFailure as exc:
            ranked.append((3, Finding(DnssecReason.SIGNATURE_INVALID, zone_text,
                                      f"{what}: {exc}")))
            continue
        return OK
    return max(ranked, key=lambda item: item[0])[1]


def ds_finding(m: ZoneMaterial, now: float) -> tuple[Finding, frozenset[int]]:
    """DS (from the parent) against the zone's DNSKEYs, then the DNSKEY RRset's signature by a
    DS-matched key. Returns the finding and the key tags of the DS-matched keys."""
    zone_text = m.zone.to_text()
    if m.ds is None:
        return Finding(DnssecReason.MISSING_DS, zone_text, "no DS at the parent"), frozenset()
    ds_list = [d for d in m.ds if isinstance(d, DS)]
    usable = [d for d in ds_list if usable_ds(int(d.algorithm), int(d.digest_type), len(d.digest))]
    if not usable:
        algs = sorted({(int(d.algorithm), int(d.digest_type)) for d in ds_list})
        return Finding(DnssecReason.UNSUPPORTED_ALGORITHM, zone_text,
                       f"DS (algorithm, digest type) all unsupported: {algs}"), frozenset()
    keys = [k for k in (m.dnskey or []) if isinstance(k, DNSKEY)]
    if not keys:
        return Finding(DnssecReason.DS_MISMATCH, zone_text,
                       "the parent has DS but the zone has no DNSKEY"), frozenset()
    matched: set[int] = set()
    for d in usable:
        for k in keys:
            tag = dns.dnssec.key_id(k)
            if tag != d.key_tag or k.algorithm != d.algorithm:
                continue
            try:
                made = dns.dnssec.make_ds(m.zone, k, d.digest_type,
                                          policy=dns.dnssec.allow_all_policy)
            except (dns.exception.UnsupportedAlgorithm, dns.exception.DeniedByPolicy, ValueError):
                continue
            if made.digest == d.digest:
                matched.add(tag)
    if not matched:
        ds_text = ", ".join(f"{d.key_tag}/{d.algorithm}/{d.digest_type}" for d in ds_list)
        key_text = ", ".join(f"{dns.dnssec.key_id(k)}/{k.algorithm}" for k in keys)
        return Finding(DnssecReason.DS_MISMATCH, zone_text,
                       f"DS [{ds_text}] match no DNSKEY [{key_text}]"), frozenset()
    assert m.dnskey is not None
    sig = signature_finding(m.dnskey, m.dnskey_rrsigs, m.zone, m.dnskey, now,
                            only_keys=frozenset(matched))
    return sig, frozenset(matched)


def anchor_finding(root: ZoneMaterial, anchors: dns.rrset.RRset | None, now: float) -> Finding:
    """The top of the chain against the trust anchor (DS records); None trusts the top keys."""
    if anchors is None:
        return OK
    found, _ = ds_finding(ZoneMaterial(root.zone, root.dnskey, root.dnskey_rrsigs, anchors), now)
    return found


def chain_prefix_finding(
    chain: Sequence[ZoneMaterial],
    now: float,
    anchors: dns.rrset.RRset | None = None,
) -> Finding:
    """The chain itself, from the trust anchor down to the last zone's DNSKEY RRset (the part
    every RRset of that zone shares, so a batch checks it once). :data:`OK` when every link holds.

    Bogus needs evidence: a signature that fails, a DS that matches no key. Two outcomes are
    ``lookup-failed`` instead: chain material that could not be fetched, and a chain that stops
    at a zone whose parent proves it has no DS before reaching the trust anchor (the RRset is
    then provably insecure, so a resolver's SERVFAIL for it was an upstream failure, for example
    an authoritative server rate-limiting the resolver, not a validation failure).
    """
    if not chain:
        return Finding(DnssecReason.BOGUS_OTHER, "", "no zone material")
    for m in chain:
        if m.failed:
            return Finding(DnssecReason.LOOKUP_FAILED, m.zone.to_text(), m.failed)
    top = chain[0]
    if anchors is not None and top.zone != anchors.name:
        return Finding(DnssecReason.LOOKUP_FAILED, top.zone.to_text(),
                       f"{top.zone.to_text()} has no DS at its parent: provably insecure, so the "
                       "resolver's failure was not a validation failure")
    found = anchor_finding(top, anchors, now)
    if not found.ok:
        return found
    for i, m in enumerate(chain):
        if i > 0:
            parent = chain[i - 1]
            if m.ds is not None:
                found = signature_finding(m.ds, m.ds_rrsigs, parent.zone, parent.dnskey, now)
                if not found.ok:
                    return found
            found, _ = ds_finding(m, now)
            if not found.ok:
                return found
        elif anchors is None:
            # the top is trusted as given: still check its DNSKEY RRset is self-signed
            if m.dnskey is None:
                return Finding(DnssecReason.BOGUS_OTHER, m.zone.to_text(), "top zone has no DNSKEY")
            found = signature_finding(m.dnskey, m.dnskey_rrsigs, m.zone, m.dnskey, now)
            if not found.ok:
                return found
    return OK


def rrset_finding(
    chain: Sequence[ZoneMaterial],
    rrset: dns.rrset.RRset,
    rrsigs: dns.rrset.RRset | None,
    now: float,
) -> Finding:
    """The last link: ``rrset``'s signatures by the last zone of ``chain`` (whose chain holds)."""
    if not chain:
        return Finding(DnssecReason.BOGUS_OTHER, "", "no zone material")
    last = chain[-1]
    if rrset.rdtype == dns.rdatatype.DNSKEY and rrset.name == last.zone:
        return OK
    return signature_finding(rrset, rrsigs, last.zone, last.dnskey, now)


def chain_finding(
    chain: Sequence[ZoneMaterial],
    rrset: dns.rrset.RRset,
    rrsigs: dns.rrset.RRset | None,
    now: float,
    anchors: dns.rrset.RRset | None = None,
) -> Finding:
    """Why ``rrset`` is bogus. ``chain``: the zones from the top (trust anchor's zone) down to
    the zone that signs ``rrset``. Returns :data:`OK` when every check passes (the resolver saw
    something these checks do not look at)."""
    found = chain_prefix_finding(chain, now, anchors)
    if not found.ok:
        return found
    return rrset_finding(chain, rrset, rrsigs, now)


def usable_ds(algorithm: int, digest_type: int, digest_length: int) -> bool:
    """A DS a validator can use: a supported algorithm and digest type, and a digest as long as
    its type's (a DS whose digest does not fit its type matches no key)."""
    return algorithm in SUPPORTED_ALGORITHMS and DIGEST_LENGTHS.get(digest_type) == digest_length


def insecure_finding(
    zone: str,
    has_dnskey: bool,
    ds: Sequence[tuple[int, int, int]] | None,
    parent_secure: bool,
) -> Finding:
    """Why an RRset the resolver calls insecure (answer without AD) is so.

    ``zone``: its name as text. ``has_dnskey``: the zone that holds the RRset publishes DNSKEY.
    ``ds``: the DS records at the parent as (algorithm, digest type, digest length) (None: no DS
    RRset). ``parent_secure``: the parent zone is itself secure, judged from the
    parent's own validated DNSKEY RRset. Not from the AD bit of the DS denial: under NSEC3 opt-out
    a secure parent's proof that an unsigned delegation has no DS is not validated as secure.

    An unsigned zone is ``unsigned`` whatever its parent; a signed zone under an insecure parent is
    ``insecure-delegation`` (no DS could make it secure); under a secure parent without DS it is
    ``missing-ds``.
    """
    if not has_dnskey:
        return Finding(DnssecReason.UNSIGNED, zone, f"{zone} has no DNSKEY")
    if not parent_secure:
        return Finding(DnssecReason.INSECURE_DELEGATION, zone,
                       f"the parent of {zone} is not secure")
    if ds is None:
        return Finding(DnssecReason.MISSING_DS, zone,
                       f"{zone} has DNSKEY, its secure parent has no DS for it")
    if not any(usable_ds(*form) for form in ds):
        return Finding(DnssecReason.UNSUPPORTED_ALGORITHM, zone,
                       "every DS has an unsupported algorithm or digest type, or a digest that "
                       "does not fit its type")
    return Finding(DnssecReason.INSECURE_OTHER, zone,
                   "secure DS and DNSKEY present, yet the answer was not validated")
