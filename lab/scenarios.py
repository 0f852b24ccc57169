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
    (the leaf with key generation K), ``leaf@K.C`` (key generation K, certificate generation C:
    the same key renewed C times), ``issuer`` (the first CA above the leaf in the chain),
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
    cert_gen: int = 0  # generation of the leaf certificate for the same key (a renewal)
    ttl: int | None = None  # the TLSA TTL this hour (None: the scenario's tlsa_ttl)
    # hosts with several addresses (Scenario.addresses), by position in the host's address list
    # (sorted as text): a key generation that differs from key_gen, None where it does not
    addr_key_gen: tuple[int | None, ...] = ()
    down: tuple[int, ...] = ()  # addresses where nothing listens this hour (connect refused)

    def key_at(self, position: int) -> int:
        gen = self.addr_key_gen[position] if position < len(self.addr_key_gen) else None
        return self.key_gen if gen is None else gen


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
class Switch:
    """One key change of a rollover scenario and its outcome, as queries/DECISIONS.md judges it
    over the whole lab history (written by hand from those rules, not computed)."""

    hour: int  # the first hour in which an address presents the new chain
    outcome: RolloverOutcome
    change: str  # leaf-key | leaf-cert | issuer-key
    ttl: int  # T: the TLSA TTL resolvers may still hold at the switch
    published: int | None = None  # first hour of the record for the new chain seen before the
    #                               switch and kept until it (None: not before the switch)
    old_seen_until: int | None = None  # last hour before the switch whose records cover the old
    #                                    chain (None: the hour before the switch)
    # per address position: its own outcome; None: that address did not change (empty: every
    # address has the host's outcome)
    addresses: tuple[RolloverOutcome | None, ...] = ()


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
    addresses: int = 1  # IPv4 addresses of the MX host
    # per address position, from an hour on: that address's own expectation (hosts whose
    # addresses differ; hours not listed: every address has the host's)
    addr_expect_at: tuple[tuple[int, tuple[Expect, ...]], ...] = ()
    switches: tuple[Switch, ...] = ()  # key changes; empty: one, from rollover/change/tlsa_ttl
    published: int | None = None  # the one change's Switch.published

    def ttl(self, hour: int) -> int:
        st = self.state(hour)
        return self.tlsa_ttl if st.ttl is None else st.ttl

    def changes(self) -> tuple[Switch, ...]:
        """Every key change of the scenario with its judged outcome (none for a static one)."""
        if self.switches or self.rollover is None:
            return self.switches
        hour = next(h for h in range(1, 100)
                    if (self.state(h - 1).key_gen, self.state(h - 1).profile)
                    != (self.state(h).key_gen, self.state(h).profile))
        return (Switch(hour, self.rollover, self.change, self.tlsa_ttl, self.published),)

    def address_expectations(self, hour: int) -> tuple[Expect, ...]:
        """Each address's expectation at ``hour`` (the host's, unless declared otherwise)."""
        current = (self.expectation(hour),) * self.addresses
        for start, exps in self.addr_expect_at:
            if hour >= start:
                current = exps
        return current

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
             rollover=RolloverOutcome.CORRECT, change="leaf-key", published=1),
    Scenario("rollover-ee-ta", "3 1 1 + 2 1 1: the TA record covers the new key", profile="private",
             tlsa=(_k(0), Tlsa(2, 1, 1, of="issuer")), tlsa_ttl=1800,
             timeline=((SWITCH, HourState(1, "private", (_k(0), Tlsa(2, 1, 1, of="issuer")))),
                       (SWITCH + 1, HourState(1, "private", (_k(1), Tlsa(2, 1, 1, of="issuer"))))),
             rollover=RolloverOutcome.CORRECT, change="leaf-key", published=0),
    Scenario("rollover-early-retract", "the old record is withdrawn an hour before the switch",
             tlsa=(_k(0),), tlsa_ttl=1800,
             timeline=((1, HourState(0, "self", (_k(0), _k(1)))),
                       (SWITCH - 1, HourState(0, "self", (_k(1),))),
                       (SWITCH, HourState(1, "self", (_k(1),)))),
             expect_at=((SWITCH - 1, _invalid(DaneReason.NO_MATCH)), (SWITCH, VALID)),
             rollover=RolloverOutcome.EARLY_RETRACT, change="leaf-key",
             switches=(Switch(SWITCH, RolloverOutcome.EARLY_RETRACT, "leaf-key", 1800, published=1,
                              old_seen_until=SWITCH - 2),)),
    Scenario("rollover-same-time", "record and certificate change in the same hour",
             tlsa=(_k(0),), tlsa_ttl=1800,
             timeline=((SWITCH, HourState(1, "self", (_k(1),))),),
             rollover=RolloverOutcome.SAME_TIME, change="leaf-key"),
    Scenario("rollover-too-late", "next key published 1 hour before the switch, TTL 2 hours",
             tlsa=(_k(0),), tlsa_ttl=7200,
             timeline=((SWITCH - 1, HourState(0, "self", (_k(0), _k(1)))),
                       (SWITCH, HourState(1, "self", (_k(0), _k(1)))),
                       (SWITCH + 1, HourState(1, "self", (_k(1),)))),
             rollover=RolloverOutcome.TOO_LATE, change="leaf-key", published=SWITCH - 1),
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
             rollover=RolloverOutcome.SHORT_TTL, change="leaf-key", published=SWITCH - 1),
)

def _next(form: tuple[int, int, int], ttl: int = 1800) -> tuple[tuple[int, HourState], ...]:
    """A textbook "current + next" rollover under records of ``form`` (usage, selector, mtype):
    next published at hour 1, key switched at SWITCH, old record withdrawn an hour later."""
    def rec(gen: int) -> Tlsa:
        return Tlsa(*form, of=f"leaf@{gen}")
    return ((1, HourState(0, "self", (rec(0), rec(1)))),
            (SWITCH, HourState(1, "self", (rec(0), rec(1)))),
            (SWITCH + 1, HourState(1, "self", (rec(1),))))


CONNECT_FAILED = _invalid(DaneReason.CONNECT_FAILED)
MATCHES_OLD = _invalid(DaneReason.MATCHES_OLD_CERTIFICATE)
_CN = RolloverOutcome.CORRECT

# The edges of issue 16 (queries/DECISIONS.md), one host each: outcomes written by hand from the
# decided rules, over the lab's whole history from hour 0.
EDGE_ROLLOVERS: tuple[Scenario, ...] = (
    Scenario("rollover-addr-diverge", "two addresses; at the switch the second (in text order) "
             "moves to a key no record covers, the first keeps the old key",
             tlsa=(_k(0),), tlsa_ttl=1800, addresses=2,
             timeline=((SWITCH, HourState(0, "self", (_k(0),), addr_key_gen=(None, 1))),),
             expect_at=((SWITCH, MATCHES_OLD),),
             addr_expect_at=((SWITCH, (VALID, MATCHES_OLD)),),
             switches=(Switch(SWITCH, RolloverOutcome.NOT_UPDATED, "leaf-key", 1800,
                              addresses=(None, RolloverOutcome.NOT_UPDATED)),)),
    Scenario("rollover-addr-down", "two addresses roll over correctly (TTL 1 hour, next key 2 "
             "hours ahead); the first refuses connections the hour before the switch",
             tlsa=(_k(0),), tlsa_ttl=3600, addresses=2,
             timeline=((1, HourState(0, "self", (_k(0), _k(1)))),
                       (SWITCH - 1, HourState(0, "self", (_k(0), _k(1)), down=(0,))),
                       (SWITCH, HourState(1, "self", (_k(0), _k(1)))),
                       (SWITCH + 1, HourState(1, "self", (_k(1),)))),
             expect_at=((SWITCH - 1, CONNECT_FAILED), (SWITCH, VALID)),
             addr_expect_at=((SWITCH - 1, (CONNECT_FAILED, VALID)), (SWITCH, (VALID, VALID))),
             switches=(Switch(SWITCH, _CN, "leaf-key", 3600, published=1, addresses=(_CN, _CN)),)),
    Scenario("rollover-ttl-change", "TTL 2 hours, lowered to 30 minutes with the next record "
             "2 hours before the switch: caches may hold the old RRset 4 hours",
             tlsa=(_k(0),), tlsa_ttl=7200,
             timeline=((1, HourState(0, "self", (_k(0), _k(1)), ttl=1800)),
                       (SWITCH, HourState(1, "self", (_k(0), _k(1)), ttl=1800)),
                       (SWITCH + 1, HourState(1, "self", (_k(1),), ttl=1800))),
             switches=(Switch(SWITCH, RolloverOutcome.TOO_LATE, "leaf-key", 7200, published=1),)),
    Scenario("renewal-same-key-311", "the CA R3 renews the leaf with the same key under 3 1 1: "
             "no record had to change, no rollover", profile="r3", tlsa=(_k(0),),
             timeline=((SWITCH, HourState(0, "r3", (_k(0),), cert_gen=1)),)),
    Scenario("rollover-same-key-301", "same-key renewal under 3 0 1, done right: the record of "
             "the new certificate published 2 hours before it goes live",
             tlsa=(Tlsa(3, 0, 1, of="leaf@0.0"),), tlsa_ttl=1800,
             timeline=((1, HourState(0, "self", (Tlsa(3, 0, 1, of="leaf@0.0"),
                                                 Tlsa(3, 0, 1, of="leaf@0.1")))),
                       (SWITCH, HourState(0, "self", (Tlsa(3, 0, 1, of="leaf@0.0"),
                                                      Tlsa(3, 0, 1, of="leaf@0.1")), cert_gen=1)),
                       (SWITCH + 1, HourState(0, "self", (Tlsa(3, 0, 1, of="leaf@0.1"),),
                                              cert_gen=1))),
             switches=(Switch(SWITCH, _CN, "leaf-cert", 1800, published=1),)),
    Scenario("rollover-300", "current + next under 3 0 0 (full certificates)",
             tlsa=(Tlsa(3, 0, 0, of="leaf@0"),), timeline=_next((3, 0, 0)), tlsa_ttl=1800,
             switches=(Switch(SWITCH, _CN, "leaf-key", 1800, published=1),)),
    Scenario("rollover-310", "current + next under 3 1 0 (full public keys)",
             tlsa=(Tlsa(3, 1, 0, of="leaf@0"),), timeline=_next((3, 1, 0)), tlsa_ttl=1800,
             switches=(Switch(SWITCH, _CN, "leaf-key", 1800, published=1),)),
    Scenario("rollover-302", "current + next under 3 0 2 (certificate SHA-512)",
             tlsa=(Tlsa(3, 0, 2, of="leaf@0"),), timeline=_next((3, 0, 2)), tlsa_ttl=1800,
             switches=(Switch(SWITCH, _CN, "leaf-key", 1800, published=1),)),
    Scenario("rollover-twice", "two rollovers in a row: current + next at the switch (the "
             "old record withdrawn with it), then record and key together 2 hours later",
             tlsa=(_k(0),), tlsa_ttl=1800,
             timeline=((1, HourState(0, "self", (_k(0), _k(1)))),
                       (SWITCH, HourState(1, "self", (_k(1),))),
                       (SWITCH + 2, HourState(2, "self", (_k(2),)))),
             switches=(Switch(SWITCH, _CN, "leaf-key", 1800, published=1),
                       Switch(SWITCH + 2, RolloverOutcome.SAME_TIME, "leaf-key", 1800))),
    Scenario("rollover-bogus", "current + next under a TLSA RRset whose signatures expired: "
             "DANE not in effect, not judged", dnssec="expired",
             tlsa=(_k(0),), timeline=_next((3, 1, 1)), tlsa_ttl=1800,
             expect=_invalid(DaneReason.DNSSEC_BOGUS),
             switches=(Switch(SWITCH, RolloverOutcome.NOT_SECURE, "leaf-key", 1800, published=1),)),
    Scenario("rollover-insecure", "current + next in a signed zone without DS: DANE not in "
             "effect, not judged", dnssec="missing-ds",
             tlsa=(_k(0),), timeline=_next((3, 1, 1)), tlsa_ttl=1800,
             expect=_invalid(DaneReason.MISSING_DS, RfcOutcome.NO_DANE),
             switches=(Switch(SWITCH, RolloverOutcome.NOT_SECURE, "leaf-key", 1800, published=1),)),
)

ALL: dict[str, Scenario] = {s.id: s for s in STATIC + ROLLOVERS + EDGE_ROLLOVERS}

# Hosters (SO) and their scenario: every customer domain's MX points there.
HOSTER_SCENARIO = {"bighost.net": "valid-311", "perhost.net": "valid-311",
                   "megamail.org": "valid-211"}
