"""The one place that reads the environment. Every setting has a default."""

from __future__ import annotations

import os
from dataclasses import dataclass


def _env(name: str, default: str) -> str:
    return os.environ.get(f"DANESCAN_{name}", default)


@dataclass(frozen=True)
class Settings:
    redis_url: str
    db: str
    resolver: str
    trust_anchor: str
    ehlo_name: str

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            redis_url=_env("REDIS_URL", "redis://127.0.0.1:6379/0"),
            db=_env("DB", "./danescan-data"),
            resolver=_env("RESOLVER", ""),
            trust_anchor=_env("TRUST_ANCHOR", ""),
            ehlo_name=_env("EHLO_NAME", "danescan.invalid"),
        )
