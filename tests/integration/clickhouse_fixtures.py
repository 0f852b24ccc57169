"""A real clickhouse-server on loopback for tests and benchmarks, and chdb on a temporary path.

The server runs as a subprocess with a generated config: 127.0.0.1 only, non-default ports, data
under a private temporary directory. It is started once per test session and stopped at the end.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

HOST = "127.0.0.1"
TCP_PORT = 19000
HTTP_PORT = 18123

CONFIG = """<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{root}/log/server.log</log><errorlog>{root}/log/error.log</errorlog>
    <size>10M</size><count>1</count></logger>
  <listen_host>{host}</listen_host>
  <tcp_port>{tcp}</tcp_port>
  <http_port>{http}</http_port>
  <interserver_http_port>{inter}</interserver_http_port>
  <path>{root}/data/</path>
  <tmp_path>{root}/tmp/</tmp_path>
  <user_files_path>{root}/user_files/</user_files_path>
  <format_schema_path>{root}/format_schemas/</format_schema_path>
  <users_config>{root}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
</yandex>
"""

USERS = """<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks>
    <profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
  </interval></default></quotas>
</yandex>
"""


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A loopback port nothing listens on (right now)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class ClickHouseServer:
    """One clickhouse-server subprocess on loopback with its own data directory."""

    root: Path
    tcp_port: int = TCP_PORT
    http_port: int = HTTP_PORT
    process: subprocess.Popen[bytes] | None = None

    def url(self, database: str) -> str:
        return f"clickhouse://{HOST}:{self.tcp_port}/{database}"

    def start(self, timeout: float = 20.0) -> None:
        binary = shutil.which("clickhouse-server")
        if binary is None:
            raise RuntimeError(
                "clickhouse-server is not installed: run scripts/install-system-packages.sh as root"
            )
        for port in (self.tcp_port, self.http_port):
            if not port_is_free(port):
                raise RuntimeError(
                    f"port {HOST}:{port} is taken; is another clickhouse-server running?"
                )
        for sub in ("log", "data", "tmp", "user_files", "format_schemas"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        config = self.root / "config.xml"
        config.write_text(
            CONFIG.format(
                root=self.root, host=HOST, tcp=self.tcp_port, http=self.http_port, inter=free_port()
            )
        )
        (self.root / "users.xml").write_text(USERS)
        out = (self.root / "log" / "stdout.log").open("ab")
        self.process = subprocess.Popen(
            [binary, f"--config-file={config}"], stdout=out, stderr=subprocess.STDOUT, cwd=self.root
        )
        out.close()
        self._wait(timeout)

    def _wait(self, timeout: float) -> None:
        from clickhouse_driver import Client, errors

        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                log = (self.root / "log" / "error.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(
                    f"clickhouse-server exited with {self.process.returncode}: {log}"
                )
            try:
                Client(host=HOST, port=self.tcp_port, connect_timeout=1).execute("SELECT 1")
                return
            except (errors.Error, OSError, EOFError):
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"clickhouse-server did not answer on {HOST}:{self.tcp_port}"
                    ) from None
                time.sleep(0.1)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def clickhouse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseServer]:
    """The session's clickhouse-server on 127.0.0.1, on free ports (19000 / 18123 when they are
    free), so that test runs side by side each have their own."""
    tcp = TCP_PORT if port_is_free(TCP_PORT) else free_port()
    http = HTTP_PORT if port_is_free(HTTP_PORT) else free_port()
    server = ClickHouseServer(tmp_path_factory.mktemp("clickhouse-server"), tcp, http)
    try:
        server.start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()


@pytest.fixture
def clickhouse_url(clickhouse_server: ClickHouseServer) -> Iterator[str]:
    """A fresh, not yet created database on the session's server; dropped afterwards."""
    from clickhouse_driver import Client

    name = f"t_{uuid.uuid4().hex[:12]}"
    yield clickhouse_server.url(name)
    Client(host=HOST, port=clickhouse_server.tcp_port).execute(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture
def chdb_path(tmp_path: Path) -> Path:
    """A path for a chdb data directory that does not exist yet."""
    return tmp_path / "chdb-data"


@pytest.fixture(params=["chdb", "clickhouse"])
def db_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A --db value for each engine in turn: a fresh chdb path, then a fresh server database."""
    if request.param == "chdb":
        return str(tmp_path / "chdb-data")
    return str(request.getfixturevalue("clickhouse_url"))
