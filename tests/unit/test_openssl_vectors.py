"""OpenSSL's DANE test vectors (test/danetest.in, test/dane-cross.in) against dane_verdict.

The files are parsed the way OpenSSL's test/danetest.c reads them (see ../shared/vectors/README.md):
header counts are followed exactly, so in the "mixed usage" blocks only the first TLSA line is
loaded and the second is skipped as junk by the PEM reader. Each block is checked twice:

* RFC 7672 view (``reason``/``depth``): OpenSSL's (result, depth), except that DANE-EE matches
  are never name-checked in SMTP (the README's override for 3.2 #50 / 3.3 #54, derived here from
  the block, and checked to hit exactly that block), and blocks whose records are all PKIX-TA/EE
  have no usable TLSA record.
* paper view (``paper_reason``/``paper_depth``) with the file's trust store: OpenSSL's (result,
  depth), with the same DANE-EE name rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from workers.dane import TlsaEvidence, TlsaRecord, TlsEvidence, TrustStore, dane_verdict
from workers.vocab import DaneReason, RfcOutcome, SmtpStatus

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "vectors"
NOW = datetime(2024, 1, 1, tzinfo=UTC)

# file -> (base domain, trust store file, block number of the SMTP name-check override or None)
FILES = {
    "openssl-danetest.in": ("example.com", "openssl-danetest.pem", 50),
    "openssl-danetest-3.3.in": ("example.com", "openssl-danetest.pem", 54),
    "openssl-dane-cross.in": ("server.example", "openssl-cross-root.pem", None),
}

X509_V_OK = 0
X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20
X509_V_ERR_HOSTNAME_MISMATCH = 62
X509_V_ERR_DANE_NO_MATCH = 65
CODE_OF_REASON = {
    DaneReason.NONE: X509_V_OK,
    DaneReason.CHAIN_INVALID: X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
    DaneReason.NAME_MISMATCH: X509_V_ERR_HOSTNAME_MISMATCH,
    DaneReason.NO_MATCH: X509_V_ERR_DANE_NO_MATCH,
}

HEADER = re.compile(r"^\s*(-?\d+)\s+(-?\d+)\s+(-?\d+)\s+(-?\d+)\s+(-?\d+)\s*$")
TLSA_LINE = re.compile(r"^\s*(\d{1,3})\s+(\d{1,3})\s+(\d{1,3})\s+([0-9A-Fa-f\s]*)$")
PEM_BEGIN = re.compile(r"^-----BEGIN (CERTIFICATE|TRUSTED CERTIFICATE|X509 CERTIFICATE)-----\s*$")


@dataclass(frozen=True)
class Block:
    file: str
    number: int
    records: tuple[TlsaRecord, ...]
    chain: tuple[bytes, ...]
    nonamechecks: bool
    result: int
    depth: int
    line: int  # 1-based line number of the header


class VectorSyntaxError(ValueError):
    pass


def parse_vectors(name: str, text: str) -> list[Block]:
    lines = text.split("\n")
    pos = 0
    blocks: list[Block] = []
    while True:
        while pos < len(lines) and (not lines[pos].strip() or lines[pos].startswith("#")):
            pos += 1
        if pos >= len(lines):
            return blocks
        header = HEADER.match(lines[pos])
        if header is None:
            raise VectorSyntaxError(f"{name}:{pos + 1}: not a block header: {lines[pos]!r}")
        ntlsa, ncert, nonamechecks, result, depth = (int(g) for g in header.groups())
        header_line = pos + 1
        pos += 1
        records = []
        for _ in range(ntlsa):
            m = TLSA_LINE.match(lines[pos])
            if m is None:
                raise VectorSyntaxError(f"{name}:{pos + 1}: not a TLSA line")
            hexdata = re.sub(r"\s+", "", m.group(4))
            if len(hexdata) % 2:
                raise VectorSyntaxError(f"{name}:{pos + 1}: odd number of hex digits")
            u, s, mt = (int(m.group(i)) for i in (1, 2, 3))
            if max(u, s, mt) > 255:
                raise VectorSyntaxError(f"{name}:{pos + 1}: field out of range")
            records.append(TlsaRecord(u, s, mt, bytes.fromhex(hexdata)))
            pos += 1
        chain = []
        for _ in range(ncert):
            while pos < len(lines) and not PEM_BEGIN.match(lines[pos]):
                pos += 1  # the PEM reader skips anything before -----BEGIN
            if pos >= len(lines):
                raise VectorSyntaxError(f"{name}: block {len(blocks) + 1} lacks a certificate")
            label = PEM_BEGIN.match(lines[pos]).group(1)  # type: ignore[union-attr]
            end = lines.index(f"-----END {label}-----", pos)
            pem = "\n".join(lines[pos : end + 1]).encode()
            chain.append(x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER))
            pos = end + 1
        blocks.append(
            Block(
                name,
                len(blocks) + 1,
                tuple(records),
                tuple(chain),
                bool(nonamechecks),
                result,
                depth,
                header_line,
            )
        )


def load(name: str) -> list[Block]:
    return parse_vectors(name, (VECTORS / name).read_text(encoding="ascii"))


def all_blocks() -> list[Block]:
    if not VECTORS.is_dir():
        return []
    return [b for name in FILES if (VECTORS / name).exists() for b in load(name)]


BLOCKS = all_blocks()
needs_vectors = pytest.mark.skipif(
    not BLOCKS, reason=f"OpenSSL DANE vectors not found at {VECTORS} (expected ../shared/vectors)"
)


def smtp_expectation(block: Block) -> tuple[int, int]:
    """OpenSSL's expectation with RFC 7672's rule that DANE-EE matches are not name-checked."""
    dane_ee_only = all(r.usage == 3 for r in block.records)
    if block.result == X509_V_ERR_HOSTNAME_MISMATCH and block.depth == 0 and dane_ee_only:
        return X509_V_OK, 0
    return block.result, block.depth


def pkix_only(block: Block) -> bool:
    return all(r.usage in (0, 1) for r in block.records)


def trust_store(name: str) -> TrustStore:
    return TrustStore.from_pem((VECTORS / FILES[name][1]).read_bytes())


def run(block: Block, store: TrustStore | None):  # type: ignore[no-untyped-def]
    return dane_verdict(
        FILES[block.file][0],
        TlsaEvidence.of(block.records),
        TlsEvidence(SmtpStatus.OK, block.chain),
        NOW,
        trust_store=store,
    )


def block_id(block: Block) -> str:
    return f"{block.file.removeprefix('openssl-').removesuffix('.in')}#{block.number}"


@needs_vectors
def test_parser_follows_readme_counts() -> None:
    counts = {}
    for name in FILES:
        blocks = load(name)
        text = (VECTORS / name).read_text(encoding="ascii")
        assert sum(len(b.chain) for b in blocks) == text.count("-----BEGIN CERTIFICATE-----")
        counts[name] = (len(blocks), sum(len(b.records) for b in blocks))
    assert counts["openssl-danetest.in"] == (50, 51)
    assert counts["openssl-danetest-3.3.in"] == (54, 55)
    assert counts["openssl-dane-cross.in"] == (1, 1)


@needs_vectors
def test_mixed_usage_quirk_loads_only_the_header_count() -> None:
    blocks = load("openssl-danetest.in")
    for number in (39, 40, 41, 42):
        assert len(blocks[number - 1].records) == 1
        # the swallowed second TLSA-looking line really follows the loaded one
        lines = (VECTORS / "openssl-danetest.in").read_text(encoding="ascii").split("\n")
        header_index = blocks[number - 1].line - 1
        assert TLSA_LINE.match(lines[header_index + 1])
        assert TLSA_LINE.match(lines[header_index + 2])


@needs_vectors
def test_override_rule_hits_only_the_documented_block() -> None:
    for name, (_, _, override) in FILES.items():
        changed = [b.number for b in load(name) if smtp_expectation(b) != (b.result, b.depth)]
        assert changed == ([override] if override else [])


@needs_vectors
@pytest.mark.parametrize("block", BLOCKS, ids=block_id)
def test_rfc_view(block: Block) -> None:
    verdict = run(block, trust_store(block.file))
    if pkix_only(block):
        assert (verdict.valid, verdict.reason) == (False, DaneReason.NO_USABLE_TLSA)
        assert verdict.rfc is RfcOutcome.ENCRYPT_ONLY
        return
    got = (CODE_OF_REASON.get(verdict.reason, -999), verdict.depth)
    assert got == smtp_expectation(block), verdict
    assert verdict.rfc is (RfcOutcome.VERIFIED if verdict.valid else RfcOutcome.DEFER)


@needs_vectors
@pytest.mark.parametrize("block", BLOCKS, ids=block_id)
def test_paper_view(block: Block) -> None:
    verdict = run(block, trust_store(block.file))
    got = (CODE_OF_REASON.get(verdict.paper_reason, -999), verdict.paper_depth)
    assert got == smtp_expectation(block), verdict
    assert verdict.paper_valid is (got[0] == X509_V_OK)


@needs_vectors
def test_cross_test_ignores_the_bait_root() -> None:
    (block,) = load("openssl-dane-cross.in")
    # byte-for-byte, the 2 0 0 record matches none of the presented certificates
    assert block.records[0].data not in block.chain
    without_store = run(block, None)
    assert (without_store.valid, without_store.depth) == (True, 2)
