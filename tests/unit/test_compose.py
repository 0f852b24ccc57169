"""compose.yaml cannot be run here (no Docker): check what can be checked without it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from danescan.cli import main
from workers import settings as settings_module

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
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
    assert set(services) == {"redis", "clickhouse", "migrate", "worker", "writer", "scheduler"}
    assert services["migrate"]["restart"] == "no"
    assert "replicas" not in services["worker"].get("deploy", {})  # scaled with --scale


def test_every_command_exists_and_its_options_parse() -> None:
    for name, service in _compose()["services"].items():
        if "build" not in service:
            continue
        args = list(service["command"])
        command = main.get_command(click.Context(main), args[0])
        assert command is not None, (name, args[0])
        command.make_context(args[0], args[1:])  # raises on an unknown option


def test_environment_is_exactly_what_settings_read(monkeypatch: pytest.MonkeyPatch) -> None:
    wanted = _settings_variables(monkeypatch)
    assert "DANESCAN_REDIS_URL" in wanted and "DANESCAN_CHUNK" in wanted
    for name, service in _compose()["services"].items():
        if "build" not in service:
            continue
        assert set(service["environment"]) == wanted, name


def test_redis_and_clickhouse_urls_point_at_the_services() -> None:
    services = _compose()["services"]
    env = services["worker"]["environment"]
    assert env["DANESCAN_REDIS_URL"].startswith("redis://redis:")
    assert env["DANESCAN_DB"].startswith("clickhouse://clickhouse:9000/")
