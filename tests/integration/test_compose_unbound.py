"""Issue 14: the compose file's unbound (deploy/unbound/unbound.conf) runs for real, on Debian's
unbound, with the loopback lab's root as its root; the workers' start check passes against it and
fails against a resolver that does not validate (the same file with ``module-config: "iterator"``)
and against the lab's authoritative root server.

The configuration is the repository's, changed only where it must differ here: the interface
address, the paths (directory, log, no user switch), the root hints and trust anchor (the lab's),
and ``do-not-query-localhost: no`` (the lab's name servers are on loopback)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.integration.lab_fixtures import LabHandle
from workers.dns.resolver_check import ResolverCheckError, ask, check_resolver

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "deploy" / "unbound" / "unbound.conf"
# our own loopback range (127.70.0.0/16); one /24 per test process, so runs side by side differ
NET = f"127.70.{os.getpid() % 250 + 1}"


def adapted(lab: LabHandle, workdir: Path, address: str, module_config: str | None = None) -> Path:
    """The repository's unbound.conf, changed only in what must differ on this machine."""
    text = CONF.read_text()
    changes = {
        r"interface: 0\.0\.0\.0": f"interface: {address}",
        r"username: \"unbound\"": 'username: ""',
        r"directory: \"/etc/unbound\"": f'directory: "{workdir}"',
        r"logfile: \"\"": f'logfile: "{workdir / "unbound.log"}"',
        r"auto-trust-anchor-file: \"[^\"]*\"": f'trust-anchor-file: "{lab.trust_anchor}"',
        r"root-hints: \"[^\"]*\"": f'root-hints: "{lab.dir / "unbound" / "root.hints"}"',
    }
    if module_config is not None:
        changes[r"module-config: \"validator iterator\""] = f'module-config: "{module_config}"'
    for pattern, replacement in changes.items():
        text, n = re.subn(pattern, replacement, text)
        assert n == 1, pattern
    text = text.replace("server:\n", "server:\n    do-not-query-localhost: no\n", 1)
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "unbound.conf"
    conf.write_text(text)
    return conf


@contextmanager
def running_unbound(conf: Path, address: str) -> Iterator[str]:
    check = subprocess.run(["unbound-checkconf", str(conf)], capture_output=True, text=True,
                           check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    proc = subprocess.Popen(["unbound", "-d", "-p", "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else "unbound exited"
            try:
                ask(address, ".", "SOA", timeout=0.5, attempts=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
        yield address
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def compose_unbound(lab: LabHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    address = f"{NET}.53"
    conf = adapted(lab, tmp_path_factory.mktemp("compose-unbound"), address)
    with running_unbound(conf, address) as resolver:
        yield resolver


def _root_server(lab: LabHandle) -> str:
    hints = (lab.dir / "unbound" / "root.hints").read_text()
    return next(line.split()[-1] for line in hints.splitlines() if " A " in line)


def test_the_compose_unbound_validates_and_passes_the_start_check(compose_unbound: str) -> None:
    check_resolver(compose_unbound)  # the root's SOA, AD set
    resp = ask(compose_unbound, ".", "DNSKEY")
    assert resp.rcode == 0 and resp.ad


def test_the_check_fails_against_the_same_unbound_without_validation(
        lab: LabHandle, tmp_path: Path) -> None:
    address = f"{NET}.54"
    conf = adapted(lab, tmp_path, address, module_config="iterator")
    with running_unbound(conf, address), pytest.raises(ResolverCheckError) as err:
        check_resolver(address)
    message = str(err.value)
    assert "\n" not in message and f"resolver {address} " in message and "AD bit" in message


def test_the_check_fails_against_the_labs_authoritative_root(lab: LabHandle) -> None:
    root = _root_server(lab)
    with pytest.raises(ResolverCheckError) as err:
        check_resolver(root)
    assert f"resolver {root} " in str(err.value) and "\n" not in str(err.value)


def test_the_check_names_a_resolver_that_does_not_answer() -> None:
    address = f"{NET}.99"  # nothing listens there
    with pytest.raises(ResolverCheckError) as err:
        check_resolver(address, timeout=0.3)
    assert f"resolver {address} did not answer" in str(err.value)


def _danescan(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DANESCAN_")}
    clean.update(env)
    clean["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "danescan.cli", *args], env=clean,
                          capture_output=True, text=True, timeout=120, check=False, cwd=ROOT)


def test_worker_and_scan_refuse_a_resolver_that_does_not_validate(
        lab: LabHandle, compose_unbound: str, tmp_path: Path) -> None:
    address = f"{NET}.55"
    conf = adapted(lab, tmp_path / "iter", address, module_config="iterator")
    with running_unbound(conf, address):
        worker = _danescan("worker", "-c", "1", DANESCAN_RESOLVER=address,
                           DANESCAN_REDIS_URL="redis://127.0.0.1:1/0",
                           DANESCAN_DB="clickhouse://127.0.0.1:1/unused")
        assert worker.returncode == 2
        assert worker.stderr.count("\n") == 1 and f"resolver {address} " in worker.stderr
        scan = _danescan("scan", str(lab.zone_files[0]), "--resolver", address,
                         "--trust-anchor", str(lab.trust_anchor), "--db", str(tmp_path / "db"),
                         "--no-progress")
        assert scan.returncode == 2
        assert scan.stderr.count("\n") == 1 and f"resolver {address} " in scan.stderr
        assert not (tmp_path / "db").exists()  # refused before anything was written
        # the override for tests: the worker goes on to its next step (Redis, unreachable here)
        skipped = _danescan("worker", "-c", "1", DANESCAN_RESOLVER=address,
                            DANESCAN_SKIP_RESOLVER_CHECK="1", DANESCAN_REDIS_RETRIES="1",
                            DANESCAN_REDIS_URL="redis://127.0.0.1:1/0",
                            DANESCAN_DB="clickhouse://127.0.0.1:1/unused")
        assert skipped.returncode == 2 and "resolver" not in skipped.stderr
        assert "127.0.0.1:1" in skipped.stderr or "Redis" in skipped.stderr
    # the validating one: the worker passes the check and stops only at Redis
    good = _danescan("worker", "-c", "1", DANESCAN_RESOLVER=compose_unbound,
                     DANESCAN_REDIS_RETRIES="1", DANESCAN_REDIS_URL="redis://127.0.0.1:1/0",
                     DANESCAN_DB="clickhouse://127.0.0.1:1/unused")
    assert good.returncode == 2 and f"resolver {compose_unbound}" not in good.stderr
