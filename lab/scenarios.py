"""The lab's scenario catalogue: what each scenario publishes and what it must yield.

Pure data. A scenario fixes, for one MX host, the certificate it presents, the TLSA records it
publishes (as *intent*: "the SPKI SHA-256 of the issuing CA under usage 3"), how its SMTP server
behaves and how the DNSSEC of its zone is broken, hour by hour. The expected verdict is written
here by hand from the RFCs, independently of the project's verdict code, so that the lab can
check that code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from workers.vocab import DaneReason, RfcOutcome, RolloverOutcome

# Certificate profiles. A profile names who issued the leaf and what the server sends.
#   self       self-signed leaf, sent alone
#   expired    self-signed leaf that expired long ago, sent alone
#   private    leaf <- "Lab Private Issuing CA" <- "Lab Private Root"; sends leaf + issuing CA
#   private3   as private, and the server also sends the root (for 2 0 1 on the root)
#   r3         leaf <- "R3" (O=Let's Encrypt) <- "Lab Public Root"; sends leaf + R3
#   e1         leaf <- "E1" (O=Let's Encrypt) <- "Lab Public Root"; sends leaf + E1
#   wrongname  as private, but the leaf names another host
PROFILES = ("self", "expired", "private", "private3", "r3", "e1", "wrongname")


@dataclass(frozen=True)
class Tlsa:
    """One published TLSA record, by intent.

    ``of``: which certificate the data is derived from: ``leaf`` (the current leaf), ``leaf@K``
    (the leaf with key generation K), ``issuer`` (the first CA above the leaf in the chain),
    ``root``, ``ca:NAME`` (a named CA: r3, e1, private-ca, private-root), ``empty`` (digest of
    the empty string), ``random``. ``data_selector``/``data_mtype`` say how the data was computed
    when it differs from the header (the wrong-selector / wrong-matching-type mistakes).
    """

    usage: int
    selector: int
    mtype: int
    of: str = "leaf"
    data_selector: int | None = None
    data_mtype: int | None = None


@dataclass(frozen=True)
class HourState:
    """What an MX host presents and publishes in one lab hour."""

    key_gen: int  # generation of the leaf key: a new generation is a new key pair
    profile: str
    tlsa: tuple[Tlsa, ...]


@dataclass(frozen=True)
class Expect:
    valid: bool
    reason: DaneReason
    rfc: RfcOutcome
    paper_valid: bool | None = None  # None: same as valid

    @property
    def paper(self) -> bool:
        return self.valid if self.paper_valid is None else self.paper_valid


VALID = Expect(True, DaneReason.NONE, RfcOutcome.VERIFIED)


@dataclass(frozen=True)
class Scenario:
    id: str
    description: str
    profile: str = "self"
    tlsa: tuple[Tlsa, ...] = (Tlsa(3, 1, 1),)
    smtp: str = "ok"  # lab.smtpd behaviour, or "none" for nothing listening
    dnssec: str = "ok"  # ok | missing-ds | unsigned | expired | not-yet-valid | bad-signature
    #                     | missing-rrsig | ds-mismatch | insecure-mx (domain unsigned, MX host signed)
    expect: Expect = VALID
    timeline: tuple[tuple[int, HourState], ...] = ()  # (from hour, state), sorted
    rollover: RolloverOutcome | None = None
    change: str = ""  # leaf-key | leaf-cert | issuer-key
    tlsa_ttl: int = 3600
    # expectation per hour for timelines: hour -> Expect; hours not listed use ``expect``
    expect_at: tuple[tuple[int, Expect], ...] = field(default=())

    def state(self, hour: int) -> HourState:
        current = HourState(0, self.profile, self.tlsa)
        for start, st in self.timeline:
            if hour >= start:
                current = st
        return current

    def expectation(self, hour: int) -> Expect:
        current = self.expect
        for start, exp in self.expect_at:
            if hour >= start:
                current = exp
        return current


def _invalid(reason: DaneReason, rfc: RfcOutcome = RfcOutcome.DEFER, paper: bool | None = None) -> Expect:
    return Expect(False, reason, rfc, paper)


SWITCH = 3  # the lab hour at which rollover scenarios switch the certificate
R311 = Tlsa(3, 1, 1)


def _k(gen: int) -> Tlsa:
    return Tlsa(3, 1, 1, of=f"leaf@{gen}")


STATIC: tuple[Scenario, ...] = (
    Scenario("valid-311", "DANE-EE SPKI SHA-256 of the leaf"),
    Scenario("valid-301", "DANE-EE full certificate SHA-256", tlsa=(Tlsa(3, 0, 1),)),
    Scenario("valid-312", "DANE-EE SPKI SHA-512", tlsa=(Tlsa(3, 1, 2),)),
    Scenario("valid-211", "DANE-TA SPKI SHA-256 of a private issuing CA, MX name in SAN",
             profile="private", tlsa=(Tlsa(2, 1, 1, of="issuer"),)),
    Scenario("valid-201", "DANE-TA certificate SHA-256 of a private root sent in the chain",
             profile="private3", tlsa=(Tlsa(2, 0, 1, of="root"),)),
    Scenario("valid-one-of-many", "three records, only the last matches",
             tlsa=(Tlsa(3, 1, 1, of="random"), Tlsa(3, 0, 1, of="random"), R311)),
    Scenario("valid-expired-selfsigned", "DANE-EE on an expired self-signed leaf (dates ignored)",
             profile="expired"),
    Scenario("ta-name-mismatch", "DANE-TA matches, the leaf names another host",
             profile="wrongname", tlsa=(Tlsa(2, 1, 1, of="issuer"),),
             expect=_invalid(DaneReason.NAME_MISMATCH)),
    Scenario("missing-ds", "TLSA would match, the zone is signed but the parent has no DS",
             dnssec="missing-ds", expect=_invalid(DaneReason.MISSING_DS, RfcOutcome.NO_DANE)),
    Scenario("unsigned-tlsa", "TLSA in an unsigned zone", dnssec="unsigned",
             expect=_invalid(DaneReason.DNSSEC_INSECURE, RfcOutcome.NO_DANE)),
    Scenario("bogus-expired", "the TLSA RRSIG has expired", dnssec="expired",
             expect=_invalid(DaneReason.DNSSEC_BOGUS)),
    Scenario("bogus-not-yet-valid", "the TLSA RRSIG is not valid yet", dnssec="not-yet-valid",
             expect=_invalid(DaneReason.DNSSEC_BOGUS)),
    Scenario("bogus-bad-signature", "the TLSA RRSIG does not verify", dnssec="bad-signature",
             expect=_invalid(DaneReason.DNSSEC_BOGUS)),
    Scenario("bogus-missing-rrsig", "the TLSA RRset carries no RRSIG", dnssec="missing-rrsig",
             expect=_invalid(DaneReason.DNSSEC_BOGUS)),
    Scenario("bogus-ds-mismatch", "the parent's DS matches no DNSKEY of the zone",
             dnssec="ds-mismatch", expect=_invalid(DaneReason.DNSSEC_BOGUS)),
    Scenario("no-match", "the TLSA record matches nothing", tlsa=(Tlsa(3, 1, 1, of="random"),),
             expect=_invalid(DaneReason.NO_MATCH)),
    Scenario("wrong-selector", "selector 0 in the header, SPKI digest in the data",
             tlsa=(Tlsa(3, 0, 1, data_selector=1),), expect=_invalid(DaneReason.WRONG_SELECTOR)),
    Scenario("wrong-matching-type", "matching type 2 in the header, SHA-256 data (wrong length)",
             tlsa=(Tlsa(3, 1, 2, data_mtype=1),),
             expect=_invalid(DaneReason.WRONG_MATCHING_TYPE, RfcOutcome.ENCRYPT_ONLY)),
    Scenario("wrong-usage", "usage 3 with the digest of the issuing CA", profile="private",
             tlsa=(Tlsa(3, 1, 1, of="issuer"),), expect=_invalid(DaneReason.WRONG_USAGE)),
    Scenario("empty-hash", "SHA-256 of the empty string", tlsa=(Tlsa(3, 1, 1, of="empty"),),
             expect=_invalid(DaneReason.EMPTY_HASH)),
    Scenario("undefined-field", "usage 4 (undefined)", tlsa=(Tlsa(4, 1, 1),),
             expect=_invalid(DaneReason.UNDEFINED_FIELD, RfcOutcome.ENCRYPT_ONLY)),
    Scenario("pkix-ee", "PKIX-EE on a leaf from the lab public CA", profile="r3",
             tlsa=(Tlsa(1, 1, 1),),
             expect=_invalid(DaneReason.NO_USABLE_TLSA, RfcOutcome.ENCRYPT_ONLY, paper=True)),
    Scenario("pkix-ta", "PKIX-TA on the lab public CA R3", profile="r3",
             tlsa=(Tlsa(0, 1, 1, of="issuer"),),
             expect=_invalid(DaneReason.NO_USABLE_TLSA, RfcOutcome.ENCRYPT_ONLY, paper=True)),
    Scenario("no-starttls", "EHLO does not offer STARTTLS", smtp="no-starttls",
             expect=_invalid(DaneReason.NO_STARTTLS)),
    Scenario("starttls-454", "STARTTLS is refused with 454", smtp="starttls-454",
             expect=_invalid(DaneReason.NO_STARTTLS)),
    Scenario("handshake-fail", "the TLS handshake fails after 220 Ready", smtp="handshake-fail",
             expect=_invalid(DaneReason.HANDSHAKE_FAILED)),
    Scenario("nothing-listening", "TLSA published, nothing listens on port 25", smtp="none",
             expect=_invalid(DaneReason.CONNECT_FAILED)),
    Scenario("implicit-mx", "no MX: the domain itself is the mail host (RFC 5321 5.1)"),
    Scenario("mx-no-address", "TLSA published for an MX host name that has no A or AAAA: a "
             "client looks the address up first, so the host receives no mail",
             smtp="none", expect=_invalid(DaneReason.NO_ADDRESS)),
    Scenario("mx-cname", "the MX host is a CNAME; TLSA at the target name (RFC 7672 2.2.2)"),
    Scenario("insecure-mx", "the domain's zone is unsigned, its MX host's zone is signed with "
             "valid TLSA", dnssec="insecure-mx"),
    Scenario("matches-old-cert", "the key rolled at hour 1, the record still names the old key",
             timeline=((1, HourState(1, "self", (_k(0),))),), tlsa=(_k(0),),
             expect_at=((1, _invalid(DaneReason.MATCHES_OLD_CERTIFICATE)),),
             rollover=RolloverOutcome.NOT_UPDATED, change="leaf-key"),
)

# A domain with two MX hosts: the first valid, the second matching nothing.
MULTI_MX = "multi-mx-mixed"

ROLLOVERS: tuple[Scenario, ...] = (
    Scenario("rollover-current-next", "next key published 2 hours before the switch, old kept",
             tlsa=(_k(0),), tlsa_ttl=1800,
             timeline=((1, HourState(0, "self", (_k(0), _k(1)))),
                       (SWITCH, HourState(1, "self", (_k(0), _k(1)))),
                       (SWITCH + 1, HourState(1, "self", (_k(1),)))),
             rollover=RolloverOutcome.CORRECT, change="leaf-key"),
    Scenario("rollover-ee-ta", "3 1 1 + 2 1 1: the TA record covers the new key", profile="private",
             tlsa=(_k(0), Tlsa(2, 1, 1, of="issuer")), tlsa_ttl=1800,
             timeline=((SWITCH, HourState(1, "private", (_k(0), Tlsa(2, 1, 1, of="issuer")))),
                       (SWITCH + 1, HourState(1, "private", (_k(1), Tlsa(2, 1, 1, of="issuer"))))),
             rollover=RolloverOutcome.CORRECT, change="leaf-key"),
    Scenario("rollover-early-retract", "the old record is withdrawn an hour before the switch",
             tlsa=(_k(0),), tlsa_ttl=1800,
             timeline=((1, HourState(0, "self", (_k(0), _k(1)))),
                       (SWITCH - 1, HourState(0, "self", (_k(1),))),
                       (SWITCH, HourState(1, "self", (_k(1),)))),
             expect_at=((SWITCH - 1, _invalid(DaneReason.NO_MATCH)), (SWITCH, VALID)),
             rollover=RolloverOutcome.EARLY_RETRACT, change="leaf-key"),
    Scenario("rollover-same-time", "record and certificate change in the same hour",
             tlsa=(_k(0),), tlsa_ttl=1800,
             timeline=((SWITCH, HourState(1, "self", (_k(1),))),),
             rollover=RolloverOutcome.SAME_TIME, change="leaf-key"),
    Scenario("rollover-too-late", "next key published 1 hour before the switch, TTL 2 hours",
             tlsa=(_k(0),), tlsa_ttl=7200,
             timeline=((SWITCH - 1, HourState(0, "self", (_k(0), _k(1)))),
                       (SWITCH, HourState(1, "self", (_k(0), _k(1)))),
                       (SWITCH + 1, HourState(1, "self", (_k(1),)))),
             rollover=RolloverOutcome.TOO_LATE, change="leaf-key"),
    Scenario("rollover-not-updated", "new key at the switch, the record is never updated",
             tlsa=(_k(0),), tlsa_ttl=1800,
             timeline=((SWITCH, HourState(1, "self", (_k(0),))),),
             expect_at=((SWITCH, _invalid(DaneReason.MATCHES_OLD_CERTIFICATE)),),
             rollover=RolloverOutcome.NOT_UPDATED, change="leaf-key"),
    Scenario("rollover-updated-later", "new key at the switch, the record follows 2 hours later",
             tlsa=(_k(0),), tlsa_ttl=1800,
             timeline=((SWITCH, HourState(1, "self", (_k(0),))),
                       (SWITCH + 2, HourState(1, "self", (_k(1),)))),
             expect_at=((SWITCH, _invalid(DaneReason.MATCHES_OLD_CERTIFICATE)),
                        (SWITCH + 2, VALID)),
             rollover=RolloverOutcome.UPDATED_LATER, change="leaf-key"),
    Scenario("rollover-auto-renewal", "the CA R3 renews the leaf with a new key; 3 1 1 not updated",
             profile="r3", tlsa=(_k(0),), tlsa_ttl=1800,
             timeline=((SWITCH, HourState(1, "r3", (_k(0),))),),
             expect_at=((SWITCH, _invalid(DaneReason.MATCHES_OLD_CERTIFICATE)),),
             rollover=RolloverOutcome.NOT_UPDATED, change="leaf-key"),
    Scenario("rollover-intermediate-change", "the leaf moves from intermediate R3 to E1; the "
             "2 1 1 record pinned to R3 breaks", profile="r3",
             tlsa=(Tlsa(2, 1, 1, of="ca:r3"),), tlsa_ttl=1800,
             timeline=((SWITCH, HourState(0, "e1", (Tlsa(2, 1, 1, of="ca:r3"),))),),
             expect_at=((SWITCH, _invalid(DaneReason.NO_MATCH)),),
             rollover=RolloverOutcome.NOT_UPDATED, change="issuer-key"),
    Scenario("rollover-short-ttl", "current+next done, but 2 x TTL is shorter than the snapshot "
             "interval", tlsa=(_k(0),), tlsa_ttl=600,
             timeline=((SWITCH - 1, HourState(0, "self", (_k(0), _k(1)))),
                       (SWITCH, HourState(1, "self", (_k(0), _k(1)))),
                       (SWITCH + 1, HourState(1, "self", (_k(1),)))),
             rollover=RolloverOutcome.SHORT_TTL, change="leaf-key"),
)

ALL: dict[str, Scenario] = {s.id: s for s in STATIC + ROLLOVERS}

# Hosters (SO) and their scenario: every customer domain's MX points there.
HOSTER_SCENARIO = {"bighost.net": "valid-311", "perhost.net": "valid-311",
                   "megamail.org": "valid-211"}
