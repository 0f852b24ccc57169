"""compose.yaml cannot be run here (no Docker): check what can be checked without it.

The compose files are also validated by ``docker-compose config`` (Debian's docker-compose
package, which needs no container engine for that) when it is installed."""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from danescan.cli import main
from workers import settings as settings_module
from workers.store.migrations import discover, split_statements

ROOT = Path(__file__).resolve().parents[2]


COMPOSE_FILES = ("compose.yaml", "compose.worker-host.yaml", "compose.publish.yaml")
SAMPLE_ENV = {"REDIS_PASSWORD": "0123abcd", "CLICKHOUSE_PASSWORD": "4567ef89",
              "DANESCAN_EHLO_NAME": "scan1.dane-research.net",
              "DANESCAN_CONTACT": "mailto:scans@dane-research.net",
              "CENTRAL_HOST": "192.0.2.10", "PUBLISH_ADDRESS": "192.0.2.10"}


def _compose(name: str = "compose.yaml") -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / name).read_text())
    return data


def _settings_variables(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The variables Settings.from_env reads, observed by reading them."""
    asked: set[str] = set()

    class Recording(dict[str, str]):
        def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
            asked.add(key)
            return default

    monkeypatch.setattr(settings_module.os, "environ", Recording())
    settings_module.Settings.from_env()
    monkeypatch.setattr(settings_module.os, "environ", os.environ)
    return asked


def test_services_are_the_cluster() -> None:
    services = _compose()["services"]
    assert set(services) == {"unbound", "redis", "clickhouse", "migrate", "worker", "writer",
                             "scheduler"}
    assert set(_compose("compose.worker-host.yaml")["services"]) == {"unbound", "worker"}
    assert services["migrate"]["restart"] == "no"
    assert "replicas" not in services["worker"].get("deploy", {})  # scaled with --scale


@pytest.mark.parametrize("compose", ["compose.yaml", "compose.worker-host.yaml"])
def test_every_command_exists_and_its_options_parse(compose: str) -> None:
    for name, service in _compose(compose)["services"].items():
        if service.get("image") != "danescan:latest":  # redis, clickhouse, unbound
            continue
        args = list(service["command"])
        command = main.get_command(click.Context(main), args[0])
        assert command is not None, (name, args[0])
        command.make_context(args[0], args[1:])  # raises on an unknown option


@pytest.mark.parametrize("compose", ["compose.yaml", "compose.worker-host.yaml"])
def test_environment_is_exactly_what_settings_read(monkeypatch: pytest.MonkeyPatch,
                                                   compose: str) -> None:
    wanted = _settings_variables(monkeypatch)
    assert "DANESCAN_REDIS_URL" in wanted and "DANESCAN_CONTACT" in wanted
    for name, service in _compose(compose)["services"].items():
        if service.get("image") != "danescan:latest":  # redis, clickhouse, unbound
            continue
        assert set(service["environment"]) == wanted, name


def test_redis_and_clickhouse_urls_point_at_the_services() -> None:
    services = _compose()["services"]
    env = services["worker"]["environment"]
    assert env["DANESCAN_REDIS_URL"].endswith("@redis:6379/0")
    assert env["DANESCAN_DB"].endswith("@clickhouse:9000/danescan")
    host = _compose("compose.worker-host.yaml")["services"]["worker"]["environment"]
    assert host["DANESCAN_REDIS_URL"].endswith("@${CENTRAL_HOST:?set CENTRAL_HOST in .env}:6379/0")
    assert host["DANESCAN_DB"].endswith("@${CENTRAL_HOST:?set CENTRAL_HOST in .env}:9000/danescan")


def test_redis_and_clickhouse_need_the_passwords_of_the_env_file() -> None:
    services = _compose()["services"]
    redis_cmd = services["redis"]["command"]
    assert redis_cmd[redis_cmd.index("--requirepass") + 1].startswith("${REDIS_PASSWORD:?")
    assert services["redis"]["environment"]["REDISCLI_AUTH"].startswith("${REDIS_PASSWORD:?")
    for compose in ("compose.yaml", "compose.worker-host.yaml"):
        env = _compose(compose)["services"]["worker"]["environment"]
        assert re.match(r"redis://:\$\{REDIS_PASSWORD:\?[^}]*\}@", env["DANESCAN_REDIS_URL"])
        assert re.match(r"clickhouse://danescan:\$\{CLICKHOUSE_PASSWORD:\?[^}]*\}@",
                        env["DANESCAN_DB"])
        # an identity is required: no default for these two
        assert env["DANESCAN_EHLO_NAME"].startswith("${DANESCAN_EHLO_NAME:?")
        assert env["DANESCAN_CONTACT"].startswith("${DANESCAN_CONTACT:?")
        assert env["DANESCAN_SKIP_RESOLVER_CHECK"] == "0"


def test_the_clickhouse_user_holds_only_what_it_needs() -> None:
    ch = _compose()["services"]["clickhouse"]
    mount = next(v for v in ch["volumes"] if "users.d" in v)
    source, target, mode = mount.split(":")
    assert mode == "ro" and target.startswith("/etc/clickhouse-server/users.d/")
    users = ET.parse(ROOT / source).getroot().find("users")
    assert users is not None
    user = users.find("danescan")
    assert user is not None
    password = user.find("password")
    assert password is not None and password.get("from_env") == "CLICKHOUSE_PASSWORD"
    assert ch["environment"]["CLICKHOUSE_PASSWORD"].startswith("${CLICKHOUSE_PASSWORD:?")
    grants = [q.text or "" for q in user.iter("query")]
    assert grants and all(g.rstrip().endswith("ON danescan.*") for g in grants)
    granted = {p.strip() for g in grants for p in g[len("GRANT "):g.index(" ON ")].split(",")}
    assert granted == {"SELECT", "INSERT", "CREATE TABLE", "ALTER TABLE", "DROP TABLE",
                       "CREATE VIEW", "DROP VIEW", "TRUNCATE", "OPTIMIZE", "SHOW"}
    # what the migrations do is granted: a migration that creates a view needs CREATE VIEW
    # (ClickHouse checks CREATE VIEW for a materialized view too)
    kinds = {" ".join(st.split()[:2]).upper().replace("CREATE MATERIALIZED", "CREATE VIEW")
             for m in discover() for text in (m.up, m.down or "") for st in split_statements(text)}
    assert {k for k in kinds if k.startswith(("CREATE", "DROP"))} <= granted, kinds
    default = users.find("default")
    assert default is not None  # the passwordless default user: loopback of its container only
    nets = default.find("networks")
    assert nets is not None and nets.get("replace") == "replace"
    assert {ip.text for ip in nets.iter("ip")} == {"::1", "127.0.0.1"}


def test_nothing_is_published_unless_asked() -> None:
    for compose in ("compose.yaml", "compose.worker-host.yaml"):
        for name, service in _compose(compose)["services"].items():
            assert "ports" not in service, (compose, name)
    published = _compose("compose.publish.yaml")["services"]
    assert set(published) == {"redis", "clickhouse"}
    for service in published.values():
        for port in service["ports"]:
            assert port.startswith("${PUBLISH_ADDRESS:-127.0.0.1}:"), port


@pytest.mark.parametrize("compose", ["compose.yaml", "compose.worker-host.yaml"])
def test_the_workers_use_their_hosts_validating_unbound(compose: str) -> None:
    data = _compose(compose)
    services = data["services"]
    unbound = services["unbound"]
    address = unbound["networks"]["scan"]["ipv4_address"]
    subnet = ipaddress.ip_network(data["networks"]["scan"]["ipam"]["config"][0]["subnet"])
    assert ipaddress.ip_address(address) in subnet
    worker = services["worker"]
    assert worker["environment"]["DANESCAN_RESOLVER"] == address  # the same on every host
    assert worker["depends_on"]["unbound"]["condition"] == "service_healthy"
    assert "scan" in worker["networks"]
    assert unbound["build"] == "./deploy/unbound"
    assert "ad" in " ".join(unbound["healthcheck"]["test"])
    conf = (ROOT / "deploy/unbound/unbound.conf").read_text()
    assert f"access-control: {subnet} allow" in conf
    assert "access-control: 0.0.0.0/0 refuse" in conf
    assert re.search(r"^\s*module-config: \"validator iterator\"", conf, re.M)
    assert re.search(r"^\s*auto-trust-anchor-file: ", conf, re.M)
    assert re.search(r"^\s*control-enable: no", conf, re.M)
    dockerfile = (ROOT / "deploy/unbound/Dockerfile").read_text()
    assert "COPY unbound.conf /etc/unbound/unbound.conf" in dockerfile
    entry = (ROOT / "deploy/unbound/entrypoint.sh").read_text()
    assert "unbound-anchor -a" in entry and "unbound-checkconf" in entry
    assert os.access(ROOT / "deploy/unbound/entrypoint.sh", os.X_OK)


def test_env_example_names_every_required_variable() -> None:
    example = {line.split("=", 1)[0] for line in (ROOT / ".env.example").read_text().splitlines()
               if line and not line.startswith("#")}
    required = set()
    for compose in COMPOSE_FILES:
        required |= set(re.findall(r"\$\{(\w+):\?", (ROOT / compose).read_text()))
    assert required == {"REDIS_PASSWORD", "CLICKHOUSE_PASSWORD", "DANESCAN_EHLO_NAME",
                        "DANESCAN_CONTACT", "CENTRAL_HOST"}
    assert required | {"PUBLISH_ADDRESS"} <= example
    readme = (ROOT / "README.md").read_text()
    assert "cp .env.example .env" in readme and "openssl rand -hex" in readme


def _docker_compose(env_file: Path | None, *files: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.skip("docker-compose is not installed (Debian: apt-get install docker-compose)")
    args = [tool, "--project-directory", str(ROOT)]
    if env_file is not None:
        args += ["--env-file", str(env_file)]
    for f in files:
        args += ["-f", str(ROOT / f)]
    clean = {k: v for k, v in os.environ.items() if k not in SAMPLE_ENV}
    return subprocess.run([*args, "config"], capture_output=True, text=True, timeout=60,
                          check=False, env=clean, cwd=ROOT)


@pytest.mark.parametrize("files", [("compose.yaml",), ("compose.yaml", "compose.publish.yaml"),
                                   ("compose.worker-host.yaml",)])
def test_docker_compose_accepts_the_files(tmp_path: Path, files: tuple[str, ...]) -> None:
    env = tmp_path / "env"
    env.write_text("".join(f"{k}={v}\n" for k, v in SAMPLE_ENV.items()))
    done = _docker_compose(env, *files)
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(done.stdout)
    worker = config["services"]["worker"]["environment"]
    assert worker["DANESCAN_REDIS_URL"].startswith("redis://:0123abcd@")
    assert worker["DANESCAN_DB"].startswith("clickhouse://danescan:4567ef89@")
    published = [p for s in config["services"].values() for p in s.get("ports", [])]
    assert bool(published) == ("compose.publish.yaml" in files)


def test_docker_compose_refuses_without_the_env_file(tmp_path: Path) -> None:
    empty = tmp_path / "env"
    empty.write_text("")
    done = _docker_compose(empty, "compose.yaml")
    assert done.returncode != 0
    assert "in .env" in done.stderr
