"""``lab up / advance / status / down``: the lab's life cycle, recorded in DIR/lab.json."""

from __future__ import annotations

import datetime as dt
import json
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.rdatatype

from lab import dynzones, slots
from lab import plan as pl
from lab import servers as srv
from lab.build import on_nsd, write_hour
from lab.extsign import SignerError
from lab.internet import MIN_DOMAINS as MIN_INTERNET
from lab.paths import LabPaths
from lab.servers import LabError
from lab.shapes import SHAPES, build_plan
from workers.names import absolute

SLOW = (1.0, 3.0)  # seconds a slow name server of the internet shape takes to answer [I]


@dataclass(frozen=True)
class UpResult:
    resolver: str
    trust_anchor: Path
    zone_files: list[Path]
    truth: Path
    seconds: float
    facts: dict[str, Any]


def _manifest(paths: LabPaths) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(paths.manifest.read_text())
    except FileNotFoundError:
        raise LabError(f"no lab in {paths.root} (run 'danescan lab up --dir {paths.root}')") from None
    except (OSError, ValueError) as exc:
        raise LabError(f"{paths.manifest}: unreadable lab manifest ({exc})") from None
    return data


def _save(paths: LabPaths, data: dict[str, Any]) -> None:
    tmp = paths.manifest.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    tmp.replace(paths.manifest)


def _all_pids(data: dict[str, Any]) -> list[int]:
    pids = data.get("pids", {})
    return [p for p in [pids.get("nsd"), pids.get("nsd-refused"), pids.get("pdns"),
                        pids.get("dnsfault"), pids.get("knot"), pids.get("dyn-smtpd"),
                        pids.get("unbound"), *pids.get("smtpd", [])] if p]


def _start_internet_servers(paths: LabPaths, plan: pl.Plan, data: dict[str, Any]) -> None:
    """PowerDNS with the unsigned zones (some of them unreadable: SERVFAIL), and the fault
    injectors: addresses that drop queries, and slow relays in front of PowerDNS."""
    from lab import dnsfault, pdns

    ips = plan.server_ips
    data["pids"]["nsd-refused"] = srv.start_refusing_nsd(paths, plan.net, ips["refused"])
    _save(paths, data)
    probe = next(f"{d.name}." for d in reversed(plan.domains) if not on_nsd(plan, d))
    data["pids"]["pdns"] = pdns.start(paths.pdns, ips["pdns"], paths.pdns_db, probe)
    _save(paths, data)
    fault_dir = paths.root / "dnsfault"
    fault_dir.mkdir(parents=True, exist_ok=True)
    upstream = ips["pdns"][0]
    cfg = dnsfault.write_config(fault_dir / "dnsfault.json", drop=list(ips["drop"]),
                                slow=[{"ip": ip, "upstream": upstream, "min": SLOW[0],
                                       "max": SLOW[1]} for ip in ips["slow"]])
    data["pids"]["dnsfault"] = dnsfault.start(cfg, fault_dir / "dnsfault.pid",
                                              fault_dir / "dnsfault.log")
    _save(paths, data)


def running(paths: LabPaths) -> list[int]:
    if not paths.manifest.exists():
        return []
    return [p for p in _all_pids(_manifest(paths)) if srv.alive(p)]


def needed_addresses(net: pl.Net, data_listeners: list[str],
                     dns_ips: tuple[str, ...] = ()) -> list[tuple[str, int, int]]:
    out: list[tuple[str, int, int]] = []
    for ip in dict.fromkeys((*net.nsd_ips, *dns_ips, net.resolver)):
        out += [(ip, 53, socket.SOCK_DGRAM), (ip, 53, socket.SOCK_STREAM)]
    out += [(ip, 25, socket.SOCK_STREAM) for ip in data_listeners]
    return out


def _lab_running(lab_dir: Path) -> bool:
    try:
        return bool(running(LabPaths(lab_dir)))
    except LabError:
        return False


def free_slot(lab_dir: Path) -> int:
    """The first lab slot whose DNS addresses are all free and that no other lab has claimed
    (lab.slots: labs started at the same moment get different slots)."""
    for slot in range(pl.SLOTS):
        try:
            srv.check_free(needed_addresses(pl.Net(slot), []))
        except LabError:
            continue
        if slots.claim(slot, lab_dir, _lab_running, srv.alive):
            return slot
    raise LabError(f"all {pl.SLOTS} lab slots are in use")


def up(root: Path, n_domains: int, seed: int, workers: int = 0,
       slot: int | None = 0, shape: str = "scenario") -> UpResult:
    """Build and start a lab; ``slot`` picks its addresses (None: the first free slot);
    ``shape`` is one of ``shapes.SHAPES``."""
    paths = LabPaths(root.resolve())
    if running(paths):
        raise LabError(f"a lab is already running in {paths.root} (pids {running(paths)}); "
                       f"run 'danescan lab down --dir {root}' first")
    srv.require_tools()
    if shape not in SHAPES:
        raise LabError(f"--shape must be one of {', '.join(SHAPES)}, got {shape!r}")
    minimum = 100 if shape == "scenario" else MIN_INTERNET
    if n_domains < minimum:
        raise LabError(f"--domains must be at least {minimum} for the {shape} shape, "
                       f"got {n_domains}")
    t0 = time.monotonic()
    # start clean: the lab is rebuilt from the seed
    if paths.root.exists():
        for sub in ("nsd", "nsd-refused", "unbound", "smtp", "pki", "zones", "pdns", "dnsfault",
                    "dyn"):
            _rmtree(paths.root / sub)
        paths.truth.unlink(missing_ok=True)
        paths.manifest.unlink(missing_ok=True)
    paths.root.mkdir(parents=True, exist_ok=True)
    epoch = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    if slot is None:
        slot = free_slot(paths.root)
    elif not slots.claim(slot, paths.root, _lab_running, srv.alive):
        raise LabError(f"lab slot {slot} is claimed by another lab; pick another or --slot auto")
    net = pl.Net(slot)
    try:
        return _up(paths, n_domains, seed, workers, slot, net, epoch, t0, shape)
    except BaseException:
        slots.release(slot, paths.root)
        raise


def _up(paths: LabPaths, n_domains: int, seed: int, workers: int, slot: int, net: pl.Net,
        epoch: dt.datetime, t0: float, shape: str) -> UpResult:
    t1 = time.monotonic()
    plan = build_plan(n_domains, seed, slot, shape)
    plan_seconds = time.monotonic() - t1
    try:
        facts = write_hour(paths, n_domains, seed, slot, 0, epoch, int(time.time()), workers,
                           shape, plan)
    except SignerError as exc:
        raise LabError(str(exc)) from None
    facts["timings"]["plan"] = round(plan_seconds, 1)  # built here, handed to write_hour
    mail_ips = listener_ips(paths)
    dns_ips = (*(ip for ips in plan.server_ips.values() for ip in ips),
               *dynzones.addresses(net))
    srv.check_free(needed_addresses(net, mail_ips, dns_ips))
    zones = _zones(plan)
    data: dict[str, Any] = {
        "seed": seed, "domains": n_domains, "hour": 0, "epoch": epoch.isoformat(),
        "slot": slot, "shape": shape, "resolver": net.resolver,
        "trust_anchor": str(paths.trust_anchor), "truth": str(paths.truth),
        "zone_files": [str(paths.zones / f"{t}.zone") for t in pl.TLDS], "pids": {},
        "servers": {role: list(ips) for role, ips in plan.server_ips.items()},
    }
    nsd_domains = [d for d in plan.domains if on_nsd(plan, d)]
    timings = facts.setdefault("timings", {})
    try:
        t1 = time.monotonic()
        data["pids"]["nsd"] = srv.start_nsd(paths, net, zones, f"{nsd_domains[-1].name}.",
                                            plan.server_ips["nsd"])
        _save(paths, data)
        timings["start_nsd"] = round(time.monotonic() - t1, 1)
        t1 = time.monotonic()
        data["pids"]["knot"], data["pids"]["dyn-smtpd"] = dynzones.start(paths, net, seed)
        data["dyn"] = dynzones.facts(paths, net)
        _save(paths, data)
        timings["start_knot"] = round(time.monotonic() - t1, 1)
        if plan.shape != "scenario":
            t1 = time.monotonic()
            _start_internet_servers(paths, plan, data)
            timings["start_pdns_faults"] = round(time.monotonic() - t1, 1)
        t1 = time.monotonic()
        data["pids"]["unbound"] = srv.start_unbound(paths, net)
        _save(paths, data)
        data["pids"]["smtpd"] = srv.start_smtpd(paths)
        _save(paths, data)
        timings["start_unbound_smtpd"] = round(time.monotonic() - t1, 1)
    except BaseException:
        srv.stop(_all_pids(data) + _pidfile_pids(paths))
        data["pids"] = {}
        _save(paths, data)
        raise
    slots.release_pid(slot, paths.root)
    return UpResult(net.resolver, paths.trust_anchor,
                    [paths.zones / f"{t}.zone" for t in pl.TLDS], paths.truth,
                    time.monotonic() - t0, facts)


def advance(root: Path) -> dict[str, Any]:
    paths = LabPaths(root.resolve())
    data = _manifest(paths)
    if not running(paths):
        raise LabError(f"the lab in {paths.root} is not running (run 'danescan lab up')")
    hour = int(data["hour"]) + 1
    epoch = dt.datetime.fromisoformat(data["epoch"])
    net = pl.Net(int(data.get("slot", 0)))
    try:
        facts = write_hour(paths, int(data["domains"]), int(data["seed"]), net.slot, hour, epoch,
                           int(time.time()), shape=str(data.get("shape", "scenario")))
    except SignerError as exc:
        raise LabError(str(exc)) from None
    pids = data["pids"]
    srv.reload([pids["nsd"]])
    # wait until NSD serves the new serial, then drop unbound's cache with a reload
    if facts["changed"]:
        zone = facts["changed"][0]
        _wait_serial(paths, net, absolute(zone), hour)
    srv.reload([pids["unbound"], *pids.get("smtpd", [])])
    time.sleep(0.5)
    data["hour"] = hour
    _save(paths, data)
    facts["hour"] = hour
    del facts["changed"]
    return facts


def _wait_serial(paths: LabPaths, net: pl.Net, zone: str, hour: int) -> None:
    """Wait until NSD serves ``zone`` (one that changed this hour) with this hour's serial."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = srv.query(net.tld_ns, zone, "SOA", timeout=0.5)
        if r is not None:
            for rrset in r.answer:
                if rrset.rdtype == dns.rdatatype.SOA and rrset[0].serial >= 1000 + hour:
                    return
        time.sleep(0.1)
    raise LabError("nsd did not load the new hour's zones within 60 s; see "
                   f"{paths.root / 'nsd' / 'nsd.log'}")


def down(root: Path) -> list[int]:
    paths = LabPaths(root.resolve())
    if not paths.manifest.exists():
        raise LabError(f"no lab in {paths.root}")
    data = _manifest(paths)
    stubborn = srv.stop(_all_pids(data) + _pidfile_pids(paths))
    if stubborn:
        raise LabError(f"could not stop pids {stubborn}")
    data["pids"] = {}
    _save(paths, data)
    slots.release(int(data.get("slot", 0)), paths.root)
    return []


def status(root: Path) -> dict[str, Any]:
    paths = LabPaths(root.resolve())
    data = _manifest(paths)
    pids = data.get("pids", {})
    procs = {name: pids.get(name) for name in ("nsd", "nsd-refused", "pdns", "dnsfault", "unbound",
                                               "knot", "dyn-smtpd")
             if name in pids or name in ("nsd", "unbound")}
    for i, p in enumerate(pids.get("smtpd", [])):
        procs[f"smtpd-{i}"] = p
    state = {name: (pid, bool(pid) and srv.alive(pid)) for name, pid in procs.items()}
    return {"dir": str(paths.root), "hour": data.get("hour"), "domains": data.get("domains"),
            "shape": data.get("shape", "scenario"),
            "seed": data.get("seed"), "resolver": data.get("resolver"),
            "trust_anchor": data.get("trust_anchor"), "truth": data.get("truth"),
            "zone_files": data.get("zone_files"), "processes": state,
            "authoritative": [ip for ips in data.get("servers", {}).values() for ip in ips]
            or list(pl.Net(int(data.get("slot", 0))).nsd_ips),
            "slot": data.get("slot", 0), "mail_listeners": len(listener_ips(paths))}


def listener_ips(paths: LabPaths) -> list[str]:
    ips = []
    for cfg in sorted(paths.smtp.glob("smtpd-*.json")):
        ips += [ls["ip"] for ls in json.loads(cfg.read_text())["listeners"]]
    return ips


def _pidfile_pids(paths: LabPaths) -> list[int]:
    out = []
    for f in [paths.root / "nsd" / "nsd.pid", paths.root / "unbound" / "unbound.pid",
              paths.root / "nsd-refused" / "nsd.pid", paths.pdns / "pdns.pid",
              paths.root / "dnsfault" / "dnsfault.pid",
              dynzones.DynPaths(paths.root).knot / "knot.pid",
              dynzones.DynPaths(paths.root).smtpd_pid,
              *paths.smtp.glob("smtpd-*.pid")]:
        try:
            out.append(int(f.read_text().split()[0]))
        except (OSError, ValueError, IndexError):
            continue
    return out


def _zones(plan: pl.Plan) -> list[str]:
    """The zones NSD serves."""
    return [".", *(f"{t}." for t in pl.TLDS),
            *(f"{d.name}." for d in plan.domains if on_nsd(plan, d))]


def _rmtree(p: Path) -> None:
    import shutil

    shutil.rmtree(p, ignore_errors=True)
