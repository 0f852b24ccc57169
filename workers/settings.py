"""The one place that reads the environment. Every setting has a default."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from workers.ratelimit import Rate, RateLimits


class SettingsError(ValueError):
    """A setting from the environment that cannot be used; the message names it, in one line."""


def _env(name: str, default: str) -> str:
    return os.environ.get(f"DANESCAN_{name}", default)


def _int(name: str, default: int, least: int | None = None) -> int:
    raw = _env(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"DANESCAN_{name}={raw!r} is not a whole number") from None
    if least is not None and value < least:
        raise SettingsError(f"DANESCAN_{name}={value} must be at least {least}")
    return value


def _float(name: str, default: float, above: float | None = None,
           least: float | None = None) -> float:
    raw = _env(name, str(default))
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"DANESCAN_{name}={raw!r} is not a number") from None
    if not math.isfinite(value):
        raise SettingsError(f"DANESCAN_{name}={raw!r} is not a finite number")
    if above is not None and not value > above:
        raise SettingsError(f"DANESCAN_{name}={value:g} must be more than {above:g}")
    if least is not None and value < least:
        raise SettingsError(f"DANESCAN_{name}={value:g} must be at least {least:g}")
    return value


def _flag(name: str) -> bool:
    raw = _env(name, "0").strip().lower()
    if raw in ("", "0", "no", "false"):
        return False
    if raw in ("1", "yes", "true"):
        return True
    raise SettingsError(f"DANESCAN_{name}={raw!r} is not 0/1 (or yes/no, true/false)")


@dataclass(frozen=True)
class Settings:
    redis_url: str
    db: str
    resolver: str
    trust_anchor: str
    ehlo_name: str
    psl: str  # Public Suffix List file; "" = Debian's publicsuffix, else publicsuffix2's copy
    # cluster mode (Celery over Redis, results into clickhouse-server)
    public_roots: str = ""  # PEM roots of the paper's PKIX view (default: Mozilla's via certifi)
    chunk: int = 500  # domains per DNS task
    smtp_hosts_per_task: int = 20  # MX hosts per host task (the hourly re-scan)
    visibility_timeout: int = 3600  # seconds before an unacknowledged task is delivered again
    unacked_restore_interval: int = 10  # seconds between sweeps for such tasks
    task_retries: int = 3  # then a task is recorded as failed with its reason
    retry_backoff: float = 2.0  # seconds, doubled per retry
    per_ip_cap: int = 1  # STARTTLS sessions per server address, across all workers
    ip_lease_seconds: int = 120  # a per-IP slot held by a dead worker frees itself after this
    writer_batch_rows: int = 5000  # the writer flushes at this many rows ...
    writer_max_age: float = 1.0  # ... or when the oldest waiting result is this old (seconds)
    redis_retries: int = 5  # attempts to reach Redis at start, with backoff
    zone_files: str = ""  # the nightly scan's inputs, separated by commas
    nightly_at: str = "02:00"  # UTC time of the nightly full scan
    hourly_minute: int = 30  # minute past each hour of the re-scan of DANE MX hosts
    # bounds against tarpits and huge RRsets (issue 11)
    probe_deadline: float = 60.0  # seconds for one whole STARTTLS probe; below ip_lease_seconds
    max_mx_hosts: int = 32  # MX hosts looked up per domain, in preference order; the rest counted
    max_addresses: int = 16  # addresses probed per MX host and family; the rest counted
    address_memo_seconds: int = 3600  # how long an address's timeout/refusal spares its other names
    # who scans (issue 14): required, with a real EHLO name, for any scan beyond loopback
    contact: str = ""  # e.g. "mailto:scans@example.org" or a URL explaining the scan
    # a worker refuses to start when its resolver does not set AD on this signed name
    resolver_check_name: str = "."
    skip_resolver_check: bool = False  # tests only: start without asking the resolver
    # the streaming pipeline of every worker process and of the embedded scan (issue 13)
    chunks_in_flight: int = 32  # tasks a worker process holds at once (prefetched, acked late)
    window: int = 4000  # domains in flight in one process's pipeline
    group: int = 16  # domains per group: a domain waiting on a lame server holds only its group
    # the chunk ledger (workers.cluster.ledger): no chunk is lost whatever the broker does
    ledger_sweep_seconds: float = 5.0  # at most one sweep per this across the cluster
    ledger_grace_seconds: float = 10.0  # an entry no message carries is published again after it
    worker_heartbeat_seconds: float = 15.0  # a worker silent this long holds nothing
    # a chunk not done after this long has the pipeline's waiting tasks logged (and again after
    # each further such period): what it is stuck on
    stuck_report_seconds: float = 600.0
    # polite scanning (issue 14): never queried nor connected to (workers/exclusion.py format)
    exclude: str = ""  # exclusion list file; "" = none
    # connection-rate limits over the whole scan (all workers together), 0 = none
    rate_per_ip: float = 0.0  # new SMTP connections per destination address per minute
    rate_per_ip_burst: int = 1  # connections an address may get at once
    rate_global: float = 0.0  # new SMTP connections per second
    rate_global_burst: int = 0  # at once; 0 = one second's worth (at least 1)

    def rate_limits(self) -> RateLimits:
        """The connection-rate limits these settings ask for."""
        per_ip = (Rate(self.rate_per_ip_burst, self.rate_per_ip / 60.0)
                  if self.rate_per_ip > 0 else None)
        overall = (Rate(self.rate_global_burst or max(1, int(self.rate_global)), self.rate_global)
                   if self.rate_global > 0 else None)
        return RateLimits(per_ip, overall)

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            redis_url=_env("REDIS_URL", "redis://127.0.0.1:6379/0"),
            db=_env("DB", "./danescan-data"),
            resolver=_env("RESOLVER", ""),
            trust_anchor=_env("TRUST_ANCHOR", ""),
            ehlo_name=_env("EHLO_NAME", "danescan.invalid"),
            psl=_env("PSL", ""),
            public_roots=_env("PUBLIC_ROOTS", ""),
            chunk=_int("CHUNK", 500),
            smtp_hosts_per_task=_int("SMTP_HOSTS_PER_TASK", 20),
            visibility_timeout=_int("VISIBILITY_TIMEOUT", 3600),
            unacked_restore_interval=_int("UNACKED_RESTORE_INTERVAL", 10),
            task_retries=_int("TASK_RETRIES", 3),
            retry_backoff=_float("RETRY_BACKOFF", 2.0),
            per_ip_cap=_int("PER_IP_CAP", 1),
            ip_lease_seconds=_int("IP_LEASE_SECONDS", 120),
            writer_batch_rows=_int("WRITER_BATCH_ROWS", 5000),
            writer_max_age=_float("WRITER_MAX_AGE", 1.0),
            redis_retries=_int("REDIS_RETRIES", 5),
            zone_files=_env("ZONE_FILES", ""),
            nightly_at=_env("NIGHTLY_AT", "02:00"),
            hourly_minute=_int("HOURLY_MINUTE", 30),
            probe_deadline=_float("PROBE_DEADLINE", 60.0, above=0),
            max_mx_hosts=_int("MAX_MX_HOSTS", 32, least=1),
            max_addresses=_int("MAX_ADDRESSES", 16, least=1),
            address_memo_seconds=_int("ADDRESS_MEMO_SECONDS", 3600, least=1),
            contact=_env("CONTACT", "").strip(),
            resolver_check_name=_env("RESOLVER_CHECK_NAME", ".") or ".",
            skip_resolver_check=_flag("SKIP_RESOLVER_CHECK"),
            chunks_in_flight=_int("CHUNKS_IN_FLIGHT", 32, least=1),
            window=_int("WINDOW", 4000, least=1),
            group=_int("GROUP", 16, least=1),
            ledger_sweep_seconds=_float("LEDGER_SWEEP_SECONDS", 5.0, above=0),
            ledger_grace_seconds=_float("LEDGER_GRACE_SECONDS", 10.0, above=0),
            worker_heartbeat_seconds=_float("WORKER_HEARTBEAT_SECONDS", 15.0, above=0),
            stuck_report_seconds=_float("STUCK_REPORT_SECONDS", 600.0, above=0),
            exclude=_env("EXCLUDE", "").strip(),
            rate_per_ip=_float("RATE_PER_IP", 0.0, least=0),
            rate_per_ip_burst=_int("RATE_PER_IP_BURST", 1, least=1),
            rate_global=_float("RATE_GLOBAL", 0.0, least=0),
            rate_global_burst=_int("RATE_GLOBAL_BURST", 0, least=0),
        )
