"""One plain sentence per failure: what is wrong with an MX host's DANE and what to publish or
change (methodology.md section 8, issue 15). Pure: evidence and verdict in, words out.

The verdict (verdict.py) decides; this module only words its reason, using the evidence the
verdict was computed from: the TLSA RRset with its DNSSEC detail, and the chain the server
presented. Every record it proposes is made from that chain by ``danescan tlsa``'s own code
(workers.dane.publish, on the digests the matcher uses), never hashed here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from workers.dane.certs import CertDigests, PresentedChain, parse_chain
from workers.dane.evidence import TlsaEvidence
from workers.dane.names import presented_names
from workers.dane.publish import PublishError, chain_material, records_for
from workers.dane.tlsa import (
    DIGEST_LENGTH,
    MatchingType,
    RecordDefect,
    Selector,
    TlsaRecord,
    Usage,
)
from workers.dane.verdict import Verdict
from workers.vocab import DaneReason, DnssecReason, RfcOutcome, SmtpStatus

DEFER = "senders with DANE will defer mail to it"


@dataclass(frozen=True)
class HostEvidence:
    """What a sentence may cite, besides the verdict. All optional but the host name."""

    host: str
    tlsa: TlsaEvidence
    tlsa_name: str = ""  # the TLSA owner name (default _25._tcp.<host>)
    tlsa_ttl: int | None = None
    zone: str = ""  # the zone the DNSSEC reason was found in
    dnssec_detail: str = ""  # the DNS probe's words for it
    signature_expired: dt.datetime | None = None  # earliest RRSIG expiration over the TLSA RRset
    signature_inception: dt.datetime | None = None  # latest RRSIG inception
    ip: str = ""
    port: int = 25
    smtp: SmtpStatus | None = None
    smtp_detail: str = ""
    starttls_reply: str = ""
    chain: tuple[bytes, ...] = ()  # as presented, DER, leaf first

    @property
    def owner(self) -> str:
        return (self.tlsa_name or f"_25._tcp.{self.host}").rstrip(".")


def _day(when: dt.datetime | None) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC") if when else "an earlier date"


def _short(record: TlsaRecord, width: int = 16) -> str:
    data = record.data.hex()
    return f"{record.usage} {record.selector} {record.mtype} " + (
        data if len(data) <= width else data[:width] + "...")


def record_for(chain: Sequence[bytes], usage: int, selector: int = 1, mtype: int = 1
               ) -> str | None:
    """The record of the presented chain (DER, leaf first) in presentation form, made by the same
    code as ``danescan tlsa`` (workers.dane.publish: the leaf for usage 3, its issuer for 2), or
    None when the chain has no such certificate."""
    try:
        made = records_for(chain_material(tuple(chain)), usage, (selector,), (mtype,))
    except PublishError:
        return None
    return str(made[0])


def proposal(records: Sequence[TlsaRecord], chain: Sequence[bytes]) -> str | None:
    """The record to publish for the chain presented now: the usage, selector and matching type
    of the first record already published (keeping the operator's choice; PKIX-TA becomes
    DANE-TA and PKIX-EE DANE-EE), ``3 1 1`` when there is none; a ``2 x x`` record names the
    issuer when the chain has one, else the leaf's ``3 x x``."""
    usage, selector, mtype = int(Usage.DANE_EE), int(Selector.SPKI), int(MatchingType.SHA256)
    for r in records:
        if (r.usage <= Usage.DANE_EE and r.selector in (0, 1)
                and r.mtype in (MatchingType.SHA256, MatchingType.SHA512)):
            # PKIX-TA/PKIX-EE are not for SMTP (RFC 7672): their DANE counterparts
            usage = Usage.DANE_TA if r.usage in (Usage.PKIX_TA, Usage.DANE_TA) else Usage.DANE_EE
            selector, mtype = r.selector, r.mtype
            break
    if usage == Usage.DANE_TA:
        return record_for(chain, usage, selector, mtype) or record_for(chain, 3, selector, mtype)
    return record_for(chain, usage, selector, mtype)


def _publish(ev: HostEvidence, what: str = "") -> str:
    rec = proposal(ev.tlsa.records, ev.chain)
    if rec is None:
        return "publish a record for the key it presents"
    why = what or ("for the CA that issued its certificate" if rec.startswith("2 ")
                   else "for the key it presents now")
    return f"publish `{rec}` {why}"


def _depth_of(record: TlsaRecord, chain: PresentedChain, any_form: bool = False
              ) -> tuple[int, int, int] | None:
    """(depth, selector, mtype) under which the record's data designates a presented
    certificate; ``any_form``: under any defined selector/matching type, not only its own."""
    certs: list[tuple[int, CertDigests]] = (
        list(zip(chain.positions, chain.certs, strict=True)) if chain.leaf
        else [(0, chain.raw_leaf)] if chain.raw_leaf else [])
    if any_form:
        forms = [(s, m) for s in (0, 1) for m in (0, 1, 2)]
    elif record.selector <= Selector.SPKI and record.mtype <= MatchingType.SHA512:
        forms = [(record.selector, record.mtype)]
    else:
        return None
    for depth, cert in certs:
        for s, m in forms:
            if cert.association(s, m) == record.data:
                return depth, s, m
    return None


_BOGUS: dict[DnssecReason, str] = {
    DnssecReason.SIGNATURE_INVALID: "the signature over the TLSA RRset does not verify; re-sign "
                                    "the zone {zone}",
    DnssecReason.RRSIG_MISSING: "the TLSA RRset carries no signature although {zone} is signed; "
                                "re-sign the zone so that every RRset is signed",
    DnssecReason.DS_MISMATCH: "the DS record at the parent of {zone} matches none of its DNSKEYs; "
                              "publish the DS of its current key-signing key at the registrar "
                              "(or publish the key the DS names again)",
    DnssecReason.NO_MATCHING_DNSKEY: "the TLSA RRset is signed with a key {zone} no longer "
                                     "publishes; re-sign it with a published key",
    DnssecReason.UNSUPPORTED_ALGORITHM: "the zone {zone} is signed with an algorithm validators "
                                        "do not support; re-sign it with ECDSA P-256 (13) or "
                                        "RSA/SHA-256 (8)",
}


def _dnssec(ev: HostEvidence, verdict: Verdict) -> str:
    zone = (ev.zone or ev.host).rstrip(".")
    reason = ev.tlsa.dnssec_reason
    if verdict.reason is DaneReason.DNSSEC_BOGUS:
        if reason is DnssecReason.SIGNATURE_EXPIRED:
            what = (f"the TLSA RRset is signed but the signature expired on "
                    f"{_day(ev.signature_expired)}; re-sign the zone {zone} (and have it "
                    f"re-signed automatically before signatures expire)")
        elif reason is DnssecReason.SIGNATURE_NOT_YET_VALID:
            what = (f"the TLSA RRset's signature is valid only from "
                    f"{_day(ev.signature_inception)}; re-sign the zone {zone} with an inception "
                    f"time in the past (is the signer's clock ahead?)")
        else:
            what = _BOGUS.get(reason, "DNSSEC validation of {owner} fails{detail}; fix the "
                              "signatures of {zone}").format(
                zone=zone, owner=ev.owner,
                detail=f" ({ev.dnssec_detail})" if ev.dnssec_detail else "")
        return f"{what}: validators call it bogus and {DEFER}"
    ignored = "DNSSEC is not in effect, DANE is ignored by senders"
    if verdict.reason is DaneReason.MISSING_DS:
        what = (f"the zone {zone} is signed but has no DS at its parent: {ignored}; publish the "
                f"DS of its key-signing key at the registrar")
    elif reason is DnssecReason.UNSIGNED:
        what = (f"the TLSA records are in the unsigned zone {zone}: {ignored}; sign the zone "
                f"and publish its DS at the parent")
    else:
        what = (f"the TLSA RRset is not DNSSEC-secure ({reason or 'insecure'}"
                f"{', zone ' + zone if ev.zone else ''}): {ignored}; sign every zone from the "
                f"root down to {ev.owner} (a DS at each parent)")
    if verdict.would_validate is False:
        what += f"; the records would not match either: {_publish(ev)}"
    return what


def _probe(ev: HostEvidence, verdict: Verdict) -> str:
    where = f"{ev.ip} port {ev.port}" if ev.ip else ev.host
    detail = f" ({ev.smtp_detail})" if ev.smtp_detail else ""
    if verdict.reason is DaneReason.NO_ADDRESS:
        return (f"{ev.host} has no A or AAAA record: no sender can reach it; publish its "
                f"address or remove it from the MX set")
    if verdict.reason is DaneReason.CONNECT_FAILED:
        return (f"no SMTP session could be had with {where}{detail}: {DEFER}; make the mail "
                f"server answer on port {ev.port} at this address or remove the address")
    if verdict.reason is DaneReason.NO_STARTTLS:
        if ev.smtp is SmtpStatus.STARTTLS_REJECTED:
            reply = f" with `{ev.starttls_reply}`" if ev.starttls_reply else ""
            return (f"the server at {where} refuses STARTTLS{reply}: {DEFER}; fix its TLS "
                    f"configuration (certificate and key files readable, TLS enabled)")
        return (f"the server at {where} does not offer STARTTLS: {DEFER}; enable STARTTLS "
                f"with the certificate the TLSA records name")
    if verdict.reason is DaneReason.HANDSHAKE_FAILED:
        return (f"the TLS handshake with {where} failed after STARTTLS{detail}: {DEFER}; check "
                f"the server's certificate, key and TLS versions (TLS 1.2 or later)")
    return (f"the probe of {where} failed on our side{detail}, so nothing can be said about "
            f"this server; run the check again")


def _record_fix(ev: HostEvidence, verdict: Verdict, chain: PresentedChain) -> str:
    reason = verdict.reason
    records = ev.tlsa.records
    if reason is DaneReason.EMPTY_HASH:
        bad = next((r for r in records if r.is_empty_hash), records[0])
        return (f"the record `{_short(bad)}` holds the digest of empty input (the tool that "
                f"made it hashed nothing); {_publish(ev, 'instead')}")
    if reason is DaneReason.UNDEFINED_FIELD:
        bad = next((r for r in records if r.form_defect.undefined), records[0])
        field = {RecordDefect.UNDEFINED_USAGE: "usage", RecordDefect.UNDEFINED_SELECTOR:
                 "selector"}.get(bad.form_defect, "matching type")
        return (f"the record `{_short(bad)}` has an undefined {field}, so senders cannot use it; "
                f"{_publish(ev, 'instead')}")
    if reason is DaneReason.WRONG_SELECTOR or reason is DaneReason.WRONG_MATCHING_TYPE:
        for r in records:
            found = _depth_of(r, chain, any_form=True)
            if found and (found[1], found[2]) != (r.selector, r.mtype):
                depth, s, m = found
                part = "selector" if s != r.selector else "matching type"
                return (f"the record `{_short(r)}` holds the right data under the wrong {part} "
                        f"(its data is the {_form(s, m)}); publish "
                        f"`{r.usage} {s} {m} {r.data.hex()}` instead")
    if reason is DaneReason.WRONG_USAGE:
        for r in records:
            found = _depth_of(r, chain)
            if found is None:
                continue
            depth = found[0]
            if r.usage in (Usage.DANE_EE, Usage.PKIX_EE) and depth > 0:
                return (f"the record `{_short(r)}` holds the digest of the issuing CA "
                        f"certificate (depth {depth}), but usage {r.usage} names the server's "
                        f"own certificate; publish `2 {r.selector} {r.mtype} {r.data.hex()}` "
                        f"to pin the CA, or `{record_for(ev.chain, 3, r.selector, r.mtype)}` for "
                        f"the server's key")
            if r.usage in (Usage.DANE_TA, Usage.PKIX_TA) and depth == 0:
                return (f"the record `{_short(r)}` holds the digest of the server's own "
                        f"certificate, but usage {r.usage} names a CA; publish "
                        f"`3 {r.selector} {r.mtype} {r.data.hex()}` instead")
            if r.usage in (Usage.PKIX_TA, Usage.PKIX_EE):
                return (f"the record `{_short(r)}` names a certificate of the chain with usage "
                        f"{r.usage}, which SMTP clients ignore (RFC 7672); publish "
                        f"`{3 if depth == 0 else 2} {r.selector} {r.mtype} {r.data.hex()}`")
    if reason is DaneReason.MATCHES_OLD_CERTIFICATE:
        ttl = ev.tlsa_ttl
        wait = f"2 x TTL = {2 * ttl} s" if ttl else "twice the TTL"
        return (f"this record matches the certificate this server presented before, not the one "
                f"it presents now; {_publish(ev)} (for the next change: publish the next "
                f"key's record beside the current one at least {wait} before the switch, and "
                f"withdraw the old one after it)")
    if reason is DaneReason.NAME_MISMATCH:
        names = presented_names(chain.leaf.cert) if chain.leaf else ()
        shown = ", ".join(names[:4]) or "none"
        return (f"the DANE-TA record anchors the chain, but the server certificate does not name "
                f"{ev.host} (it names: {shown}); have the CA issue a certificate that includes "
                f"{ev.host}, or publish `{record_for(ev.chain, 3)}` (DANE-EE ignores names)")
    if reason is DaneReason.TA_EXPIRED:
        return (f"the CA certificate the DANE-TA record names is outside its validity dates and "
                f"OpenSSL-based senders such as Postfix refuse it; renew that CA certificate, "
                f"or publish `{record_for(ev.chain, 3)}` (DANE-EE ignores dates)")
    if reason is DaneReason.CHAIN_INVALID:
        return (f"a record names a certificate of the chain, but the chain from it down to the "
                f"server certificate does not verify (missing intermediate, expired or non-CA "
                f"certificate, bad signature); send the complete chain, or publish "
                f"`{record_for(ev.chain, 3)}` for the server's key")
    if reason is DaneReason.NO_USABLE_TLSA:
        malformed = next((r for r in records if r.form_defect is not RecordDefect.NONE), None)
        if malformed is not None:  # unusable for its data, whatever its usage
            return (f"no record is usable by SMTP senders: {_malformed(malformed)}, so they use "
                    f"TLS without authentication; {_publish(ev, 'instead')}")
        return (f"no record is usable by SMTP senders (usages 0 and 1 are not for SMTP, "
                f"RFC 7672 3.1.3): they use TLS without authentication; {_publish(ev)}")
    # no-match, or a reason above whose record could not be singled out
    return (f"no TLSA record matches the certificate chain the server presents; "
            f"{_publish(ev)}")


def _malformed(record: TlsaRecord) -> str:
    """What is wrong with a record's data (a well-formed record's fields are all defined)."""
    if record.form_defect is RecordDefect.BAD_DIGEST_LENGTH:
        name = "SHA-256" if record.mtype == MatchingType.SHA256 else "SHA-512"
        size = DIGEST_LENGTH[record.mtype]
        return (f"the record `{_short(record)}` holds {len(record.data)} bytes, but a {name} "
                f"digest is {size} bytes")
    if record.form_defect is RecordDefect.BAD_FULL_DATA:
        what = "certificate" if record.selector == Selector.CERT else "public key"
        return f"the record `{_short(record)}` has matching type 0 but its data is not a DER {what}"
    return f"the record `{_short(record)}` is malformed ({record.form_defect})"


def _form(selector: int, mtype: int) -> str:
    what = "whole certificate" if selector == Selector.CERT else "public key"
    how = {1: "SHA-256 of the ", 2: "SHA-512 of the "}.get(mtype, "")
    return f"{how}{what}"


def explain(ev: HostEvidence, verdict: Verdict) -> str | None:
    """The sentence for a verdict that is not a success, or None when there is nothing to fix
    (valid and verified). ``no-tlsa`` gets a note, not a failure: DANE is not deployed."""
    reason = verdict.reason
    chain = parse_chain(ev.chain) if ev.chain else PresentedChain((), (), ())
    if verdict.valid:
        if verdict.rfc is RfcOutcome.DEFER:
            return ("a SHA-256 record matches, but a SHA-512 record of the same usage and "
                    "selector does not, and senders such as Postfix use only the strongest "
                    "digest (RFC 7671 section 9); fix or withdraw the SHA-512 record")
        return None
    if reason is DaneReason.NO_TLSA:
        rec = proposal((), ev.chain)
        then = f" (for the key it presents now: `{rec}`)" if rec else ""
        return (f"DANE not deployed: there is no TLSA record at {ev.owner}; to deploy it, sign "
                f"the zone and publish a TLSA record{then}")
    if reason is DaneReason.EXCLUDED:
        what = f"{ev.ip} port {ev.port}" if ev.ip else ev.host
        return (f"{what} is on the exclusion list: it was neither looked up nor connected to, "
                f"so nothing is said about it")
    if reason is DaneReason.TLSA_LOOKUP_FAILED:
        status = ev.tlsa.status if ev.tlsa.status != "NOERROR" else ev.tlsa.dnssec
        return (f"the TLSA lookup at {ev.owner} failed ({status}): {DEFER} while it fails; "
                f"make every name server of {(ev.zone or ev.host).rstrip('.')} answer it")
    if reason in (DaneReason.DNSSEC_BOGUS, DaneReason.MISSING_DS, DaneReason.DNSSEC_INSECURE):
        return _dnssec(ev, verdict)
    if reason in (DaneReason.NO_ADDRESS, DaneReason.CONNECT_FAILED, DaneReason.NO_STARTTLS,
                  DaneReason.HANDSHAKE_FAILED, DaneReason.PROBE_ERROR):
        return _probe(ev, verdict)
    if chain.leaf_digests is None:
        return f"no TLSA record matches the server's certificate, which could not be read; {DEFER}"
    return _record_fix(ev, verdict, chain)
