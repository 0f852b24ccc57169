"""``danescan tlsa`` prints, case for case, the records ``ldns-dane create`` (ldnsutils) and
hash-slinger's ``tlsa --create`` print for the same certificate, chain, key or mail server.

Inputs from the lab's PKI helper (lab/pki.py): an EC leaf, an RSA leaf, an Ed25519 leaf, and a
2-certificate chain (leaf + its self-signed issuer: ``ldns-dane`` takes the anchor for usage 2 from
the self-signed end of the chain, hash-slinger's ``tlsa`` asks for each certificate but the last
and is answered "n", so both take the issuer). The mail server is lab.smtpd on a loopback address
presenting that chain after STARTTLS; hash-slinger finds it through a private /etc/hosts
(``unshare -m`` + bind mount, as root: the machine's own file is never touched).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization

from danescan.cli import main
from lab import pki
from tests.integration.smtpd_process import SmtpdProcess

pytestmark = pytest.mark.oracle

NET = "127.78.1"
MX = "mx.tlsa-oracle.test"
COMBOS = [(s, m) for s in (0, 1) for m in (0, 1, 2)]


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} is not installed (.ci/run installs ldnsutils and hash-slinger)")


@dataclass(frozen=True)
class Files:
    dir: Path
    leaves: dict[str, pki.Issued]  # kind -> self-signed leaf (its PEM in <kind>.pem)
    chain: Path  # leaf + self-signed issuer, PEM
    chain_leaf: pki.Issued


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    d = tmp_path_factory.mktemp("tlsa-oracle")
    leaves = {}
    for kind in ("ec", "rsa", "ed25519"):
        leaf = pki.make_leaf(11, f"oracle-{kind}", (MX,), None, key_kind=kind)
        leaves[kind] = leaf
        (d / f"{kind}.pem").write_bytes(leaf.pem)
        (d / f"{kind}.der").write_bytes(leaf.der)
        (d / f"{kind}.key").write_bytes(leaf.key_pem())
        (d / f"{kind}.key.der").write_bytes(leaf.key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        (d / f"{kind}.pub").write_bytes(leaf.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    root = pki.make_ca(11, "oracle-root", "Oracle Test Root", "Lab Mail Operators")
    leaf = pki.make_leaf(11, "oracle-chain", (MX,), root)
    (d / "chain.pem").write_bytes(leaf.pem + root.pem)
    (d / "chain.key").write_bytes(leaf.key_pem())
    return Files(d, leaves, d / "chain.pem", leaf)


def ours(*args: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(main, ["tlsa", *args])
    lines = [line for line in (result.stdout or "").splitlines() if line.strip()]
    return result.exit_code, lines


def _record_lines(text: str) -> list[tuple[str, ...]]:
    """(owner, usage, selector, mtype, data) of every TLSA line, TTL and class dropped."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if "TLSA" in parts:
            i = parts.index("TLSA")
            out.append((parts[0], *parts[i + 1:i + 4], "".join(parts[i + 4:])))
    return out


def ldns_dane(cert: Path, usage: int, selector: int, mtype: int) -> tuple[str, list[str]]:
    out = subprocess.run(["ldns-dane", "-c", str(cert), "create", MX, "25", str(usage),
                          str(selector), str(mtype)], capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout, [line for line in out.stdout.splitlines() if "TLSA" in line]


def hash_slinger(usage: int, selector: int, mtype: int, cert: Path | None = None,
                 hosts: Path | None = None) -> str:
    args = ["tlsa", "--create", "--port", "25", "--usage", str(usage), "--selector",
            str(selector), "--mtype", str(mtype)]
    if cert is not None:
        args += ["--certificate", str(cert), MX]
        cmd = args
    else:
        assert hosts is not None
        args += ["--insecure", "--resolvconf", "", MX]
        script = f'mount --bind "{hosts}" /etc/hosts && exec "$@"'
        cmd = ["unshare", "-m", "sh", "-c", script, "sh", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, input="n\n" * 4, timeout=60)
    assert out.returncode == 0, out.stderr + out.stdout
    return out.stdout


@pytest.mark.parametrize("kind", ["ec", "rsa", "ed25519"])
def test_leaf_records_equal_both_oracles(files: Files, kind: str) -> None:
    _need("ldns-dane")
    _need("tlsa")
    pem = files.dir / f"{kind}.pem"
    for selector, mtype in COMBOS:
        code, lines = ours("--cert", str(pem), "--name", MX, "--selector", str(selector),
                           "--mtype", str(mtype))
        assert code == 0
        ldns_text, ldns_lines = ldns_dane(pem, 3, selector, mtype)
        # zone-file form: ldns-dane's line, field for field (owner, TTL, class, type, rdata)
        assert [line.split() for line in lines] == [line.split() for line in ldns_lines]
        slinger = _record_lines(hash_slinger(3, selector, mtype, cert=pem))
        assert _record_lines("\n".join(lines)) == slinger == _record_lines(ldns_text)
        # the same certificate as DER gives the same record
        assert ours("--cert", str(files.dir / f"{kind}.der"), "--name", MX, "--selector",
                    str(selector), "--mtype", str(mtype))[1] == lines


@pytest.mark.parametrize("kind", ["ec", "rsa", "ed25519"])
def test_key_gives_the_spki_records_of_its_certificate(files: Files, kind: str) -> None:
    _need("ldns-dane")
    pem = files.dir / f"{kind}.pem"
    for mtype in (0, 1, 2):
        _, expected = ldns_dane(pem, 3, 1, mtype)
        for key in (f"{kind}.key", f"{kind}.key.der", f"{kind}.pub"):
            code, lines = ours("--key", str(files.dir / key), "--name", MX, "--mtype", str(mtype))
            assert code == 0
            assert [line.split() for line in lines] == [line.split() for line in expected], key


def test_chain_issuer_and_leaf_equal_both_oracles(files: Files) -> None:
    _need("ldns-dane")
    _need("tlsa")
    for usage in (3, 2):
        for selector, mtype in COMBOS:
            code, lines = ours("--cert", str(files.chain), "--name", MX, "--usage", str(usage),
                               "--selector", str(selector), "--mtype", str(mtype))
            assert code == 0
            _, ldns_lines = ldns_dane(files.chain, usage, selector, mtype)
            assert [line.split() for line in lines] == [line.split() for line in ldns_lines]
            slinger = _record_lines(hash_slinger(usage, selector, mtype, cert=files.chain))
            assert _record_lines("\n".join(lines)) == slinger
    # usage 2 designates the issuer, not the leaf
    assert ours("--cert", str(files.chain), "--name", MX, "--usage", "2")[1] != \
        ours("--cert", str(files.chain), "--name", MX, "--usage", "3")[1]


@pytest.fixture(scope="module")
def server(files: Files) -> Iterator[str]:
    ip = f"{NET}.1"
    certs = {"*": {"chain": str(files.chain), "key": str(files.dir / "chain.key")}}
    smtpd = SmtpdProcess(files.dir, {"listeners": [
        {"ip": ip, "port": 25, "behaviour": "ok", "hostname": MX, "certs": certs}]})
    smtpd.start()
    try:
        yield ip
    finally:
        smtpd.stop()


def test_host_records_equal_hash_slinger_and_the_chain_file(files: Files, server: str) -> None:
    _need("tlsa")
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.fail("needs root and unshare (a private /etc/hosts for hash-slinger)")
    hosts = files.dir / "hosts"
    hosts.write_text(f"{server} {MX}\n")
    for usage, selector, mtype in ((3, 1, 1), (3, 0, 2), (2, 1, 1), (2, 0, 0)):
        code, lines = ours("--host", server, "--name", MX, "--usage", str(usage), "--selector",
                           str(selector), "--mtype", str(mtype))
        assert code == 0, lines
        slinger = _record_lines(hash_slinger(usage, selector, mtype, hosts=hosts))
        assert _record_lines("\n".join(lines)) == slinger
        _, ldns_lines = ldns_dane(files.chain, usage, selector, mtype)
        assert [line.split() for line in lines] == [line.split() for line in ldns_lines]
    # HOST:PORT form
    assert ours("--host", f"{server}:25", "--name", MX)[1] == ours("--host", server, "--name", MX)[1]


@pytest.mark.parametrize(("args", "words"), [
    (["--cert", "{dir}/junk"], "not a certificate"),
    (["--key", "{dir}/junk"], "not a key"),
    (["--cert", "{dir}/ec.key"], "no PEM certificate"),
    (["--cert", "{dir}/ec.pem", "--usage", "2"], "needs the issuer"),
    (["--cert", "{dir}/ec.pem", "--selector", "2"], "unknown selector 2"),
    (["--cert", "{dir}/ec.pem", "--mtype", "3"], "unknown matching type 3"),
    (["--key", "{dir}/ec.key", "--selector", "0"], "only selector 1"),
    (["--cert", "{dir}/missing.pem"], "cannot read"),
    (["--host", f"{NET}.2:25", "--name", MX], "no certificate"),
    (["--cert", "{dir}/ec.pem", "--key", "{dir}/ec.key"], "exactly one"),
])
def test_bad_input_one_line_exit_2(files: Files, args: list[str], words: str) -> None:
    (files.dir / "junk").write_bytes(b"hello, not a certificate\n")
    argv = [a.format(dir=files.dir) for a in args]
    if "--name" not in argv:
        argv += ["--name", MX]
    result = CliRunner().invoke(main, ["tlsa", *argv])
    assert result.exit_code == 2
    assert result.stdout == ""
    err = result.stderr.strip().splitlines()
    assert len(err) == 1 and words in err[0] and err[0].startswith("danescan: "), err
