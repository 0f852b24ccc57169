"""Reading certificates and keys for the records to publish (workers/dane/publish.py), and the
rollover command's input errors that come before any DNS."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization

from danescan.cli import main
from lab import pki
from workers.dane.certs import parse_cert
from workers.dane.publish import PublishError, chain_material, read_material, records_for
from workers.dane.tlsa import TlsaRecord

CA = pki.make_ca(3, "publish-ca", "Publish CA", None)
LEAF = pki.make_leaf(3, "publish", ("mx.publish.test",), CA)


def test_chain_bundle_with_key_reads_the_certificates() -> None:
    m = read_material(LEAF.pem + CA.pem + LEAF.key_pem(), "cert")
    assert [c.der for c in m.chain] == [LEAF.der, CA.der]
    key_only = read_material(LEAF.pem + LEAF.key_pem(), "key")
    assert key_only.is_key and key_only.spki == LEAF.spki_der


def test_records_designate_leaf_or_issuer_and_match_like_the_verdict() -> None:
    m = read_material(LEAF.pem + CA.pem, "any")
    (ee,) = records_for(m, 3, (1,), (1,))
    (ta,) = records_for(m, 2, (0,), (2,))
    assert ee == TlsaRecord(3, 1, 1, hashlib.sha256(LEAF.spki_der).digest())
    assert ta == TlsaRecord(2, 0, 2, hashlib.sha512(CA.der).digest())
    info = parse_cert(LEAF.der)
    assert info is not None and info.matches(ee)
    assert len(records_for(m, 3, (0, 1), (0, 1, 2))) == 6


def test_a_key_gives_selector_1_only() -> None:
    der = LEAF.key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    m = read_material(der, "key")
    assert records_for(m, 3, (1,), (0,)) == [TlsaRecord(3, 1, 0, LEAF.spki_der)]
    # a key stands for itself under usage 2 as well (the issuer's key, given by the operator)
    assert records_for(m, 2, (1,), (1,))[0].data == hashlib.sha256(LEAF.spki_der).digest()
    with pytest.raises(PublishError, match="only selector 1"):
        records_for(m, 3, (0,), (1,))


@pytest.mark.parametrize(("data", "what", "words"), [
    (b"", "any", "not a certificate or a key"),
    (b"\x30\x03\x02\x01\x01", "cert", "not a certificate"),
    (b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n", "cert", "block 1"),
    (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "cert", "block 1"),
    (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "key", "no PEM private"),
    (LEAF.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.BestAvailableEncryption(b"pw")), "key", "encrypted"),
])
def test_bad_material(data: bytes, what: str, words: str) -> None:
    with pytest.raises(PublishError, match=words):
        read_material(data, what)


def test_bad_record_fields_and_missing_issuer() -> None:
    m = read_material(LEAF.pem, "cert")
    for usage, selector, mtype, words in ((4, 1, 1, "unknown usage"), (3, 2, 1, "selector 2"),
                                          (3, 1, 3, "matching type 3"), (2, 1, 1, "issuer"),
                                          (1, 1, 1, "unusable for SMTP"),
                                          (0, 1, 1, "unusable for SMTP")):
        with pytest.raises(PublishError, match=words):
            records_for(m, usage, (selector,), (mtype,))
    with pytest.raises(PublishError, match="no certificate"):
        chain_material((b"not der",))


@pytest.mark.parametrize(("args", "words"), [
    (["plan", "--current", "{junk}", "--next", "{leaf}", "--mx", "mx.publish.test"],
     "not a certificate or a key"),
    (["plan", "--current", "{leaf}", "--mx", "mx.publish.test"], "--next"),
    (["check", "--current", "{leaf}", "--next", "{leaf}", "--mx", "bad..name"], "--mx"),
    (["plan", "--current", "{leaf}", "--next", "{leaf}", "--mx", "mx.publish.test",
      "--resolver", "127.0.0.1:99999"], "--resolver"),
    (["publish", "--current", "{leaf}", "--next", "{leaf}", "--mx", "mx.publish.test",
      "--tsig-key", "{junk}"], "no TSIG key"),
    (["plan", "--current", "{leaf}", "--next", "{leaf}", "--mx", "mx.publish.test",
      "--now", "tomorrow"], "--now"),
    # refused before any DNS (the resolver given does not answer: a lookup would time out)
    (["plan", "--current", "{leaf}", "--next", "{leaf}", "--mx", "mx.publish.test",
      "--port", "0", "--resolver", "127.0.0.1:9"], "--port 0"),
    (["plan", "--current", "{leaf}", "--next", "{leaf}", "--mx", "mx.publish.test",
      "--ttl", "-5", "--resolver", "127.0.0.1:9"], "--ttl -5"),
])
def test_rollover_input_errors_are_one_line_exit_2(tmp_path: Path, args: list[str],
                                                   words: str) -> None:
    (tmp_path / "junk").write_text("hello\n")
    (tmp_path / "leaf.pem").write_bytes(LEAF.pem)
    argv = [a.format(junk=tmp_path / "junk", leaf=tmp_path / "leaf.pem") for a in args]
    result = CliRunner().invoke(main, ["rollover", *argv, "--state", str(tmp_path / "s.json")])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], lines


def test_a_state_file_that_is_not_text_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "leaf.pem").write_bytes(LEAF.pem)
    state = tmp_path / "s.json"
    state.write_bytes(b"\xff\xfe not a state")
    leaf = str(tmp_path / "leaf.pem")
    result = CliRunner().invoke(main, ["rollover", "check", "--current", leaf, "--next", leaf,
                                       "--mx", "mx.publish.test", "--state", str(state)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"danescan: {state}: "), lines
