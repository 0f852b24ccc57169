"""Write the lab of one hour to disk: signed zones, trust anchor, mail-server config, truth.

Signing is the cost (about 0.15 ms per RRSIG); zones are signed in worker processes, and on
``advance`` only the zones whose records changed are signed again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import multiprocessing
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from lab import dynzones, extsign, truth
from lab import plan as pl
from lab.paths import LabPaths
from lab.pki import Presented, derive_key
from lab.shapes import build_plan
from lab.signer import Record, SigningKey, render_zone
from lab.world import World


def on_nsd(plan: pl.Plan, d: pl.Domain) -> bool:
    """Whether NSD serves the zone (pre-signed); else PowerDNS from its database (the internet
    shape's unsigned zones: most of them, and the ones that never change between hours)."""
    return plan.shape == "scenario" or d.signed


def zone_key(seed: int, zone: str, wrong: bool = False) -> SigningKey:
    return SigningKey.from_private(derive_key(seed, f"dnssec{'-wrong' if wrong else ''}:{zone}"))


def _records_hash(records: list[Record]) -> str:
    body = "\n".join(f"{o} {t} {ty} {rd}" for o, t, ty, rd in records if ty != "SOA")
    return hashlib.sha256(body.encode()).hexdigest()


# ---- worker side: signing; the records come from the parent (no plan is built here) ----------

# a zone to sign: (name, records, signed, ds_mismatch, tlsa breakage)
ZoneJob = tuple[str, list[Record], bool, bool, str]


def _sign_slice(args: tuple[list[ZoneJob], str, int, dict[str, str], int]
                ) -> dict[str, tuple[str, str]]:
    jobs, outdir, now, old_hashes, seed = args
    out: dict[str, tuple[str, str]] = {}  # zone -> (records hash, DS text)
    for name, recs, signed, ds_mismatch, breakage in jobs:
        h = _records_hash(recs)
        ds = zone_key(seed, name, wrong=ds_mismatch).ds(f"{name}.") if signed else ""
        if old_hashes.get(name) != h or not (Path(outdir) / f"{name}.zone").exists():
            key = zone_key(seed, name) if signed else None
            text = render_zone(f"{name}.", recs, key, now, breakage)
            (Path(outdir) / f"{name}.zone").write_text(text)
        out[name] = (h, ds)
    return out


def _sign_tld(args: tuple[str, list[Record], str, str, int, str | None, int]) -> tuple[str, str]:
    """Sign one TLD zone (in a worker) unless its records are unchanged, the way
    ``plan.TLD_SIGNING`` says: the lab's NSEC signer, or BIND's or ldns's NSEC3 signer (lab.extsign,
    work files in nsd/signer/<tld>/). A copy of the signed file, as the signer wrote it, goes to
    zones/ (the scan's input)."""
    tld, recs, signed_dir, zones_dir, now, old_hash, seed = args
    method = pl.TLD_SIGNING[tld]
    h = f"{method}:{_records_hash(recs)}"
    target = Path(signed_dir) / f"{tld}.zone"
    if old_hash != h or not target.exists():
        key = zone_key(seed, tld)
        if method == "nsec":
            target.write_text(render_zone(f"{tld}.", recs, key, now))
        else:
            extsign.sign(method, f"{tld}.", render_zone(f"{tld}.", recs, None, now), key, now,
                         Path(signed_dir).parent / "signer" / tld, target)
        shutil.copyfile(target, Path(zones_dir) / f"{tld}.zone")
    return tld, h


def write_hour(paths: LabPaths, n: int, seed: int, slot: int, hour: int, epoch: dt.datetime,
               now: int, workers: int = 0, shape: str = "scenario",
               plan: pl.Plan | None = None) -> dict[str, Any]:
    """Write every file of ``hour``; returns facts for the manifest. ``plan``: the plan of
    (n, seed, slot, shape) when the caller has it already."""
    t0 = time.monotonic()
    timings: dict[str, float] = {}
    world = World(plan or build_plan(n, seed, slot, shape), hour)
    plan = world.plan
    timings["plan"] = time.monotonic() - t0
    paths.signed.mkdir(parents=True, exist_ok=True)
    paths.zones.mkdir(parents=True, exist_ok=True)
    old_hashes: dict[str, str] = json.loads(paths.hashes.read_text()) if paths.hashes.exists() else {}
    nsd_domains = [d for d in plan.domains if on_nsd(plan, d)]
    workers = workers or max(1, min(os.cpu_count() or 1, 8))
    size = max(1, min(2000, len(nsd_domains) // (workers * 4) + 1))
    results: dict[str, tuple[str, str]] = {}
    pdns_zones = 0
    # forkserver: the caller may hold chdb, which hangs in a forked child (lab-notes)
    ctx = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(workers, mp_context=ctx) as ex:
        futures = []
        for i in range(0, len(nsd_domains), size):
            jobs = [(d.name, world.sld_records(d), d.signed, d.ds_mismatch,
                     world.tlsa_breakage(d)) for d in nsd_domains[i:i + size]]
            futures.append(ex.submit(_sign_slice, (jobs, str(paths.signed), now, old_hashes, seed)))
        if plan.shape != "scenario" and not paths.pdns_db.exists():
            # while the workers sign: the unsigned zones into PowerDNS's database (written once:
            # they do not change between hours)
            from lab import pdns

            paths.pdns.mkdir(parents=True, exist_ok=True)
            pdns_zones = pdns.write_db(paths.pdns_db, ((f"{d.name}.", world.sld_records(d))
                                                       for d in plan.domains if not on_nsd(plan, d)))
            pdns.break_zones(paths.pdns_db, [f"{d.name}." for d in plan.domains
                                             if d.fault == "servfail-all"])
            timings["pdns_db"] = time.monotonic() - t0 - timings["plan"]
        for fut in futures:
            results.update(fut.result())
        ds_of = {name: ds for name, (_h, ds) in results.items() if ds}
        new_hashes = {name: h for name, (h, _ds) in results.items()}
        # the TLD zones need every DS of their children; each is signed in a worker too
        tld_jobs = [(tld, world.tld_records(tld, ds_of), str(paths.signed), str(paths.zones), now,
                     old_hashes.get(f"{tld}."), seed) for tld in pl.TLDS]
        timings["sign_slds"] = time.monotonic() - t0 - timings["plan"]
        for tld, h in ex.map(_sign_tld, tld_jobs):
            new_hashes[f"{tld}."] = h
        timings["sign_tlds"] = time.monotonic() - t0 - timings["plan"] - timings["sign_slds"]
    tld_ds = {tld: zone_key(seed, tld).ds(f"{tld}.") for tld in pl.TLDS}
    root_key = zone_key(seed, ".")
    # the dynamic zones of the rollover scenarios (Knot, lab/dynzones.py) hang off the root
    root_recs = world.root_records(tld_ds) + dynzones.root_records(plan.net, seed)
    root_file = paths.signed / "root.zone"
    if old_hashes.get(".") != _records_hash(root_recs) or not root_file.exists():
        root_file.write_text(render_zone(".", root_recs, root_key, now))
    new_hashes["."] = _records_hash(root_recs)
    paths.trust_anchor.write_text(f". 86400 IN DS {root_key.ds('.')}\n")
    paths.hashes.write_text(json.dumps(new_hashes))

    t1 = time.monotonic()
    listeners = write_smtp_config(paths, world)
    timings["mail_servers"] = time.monotonic() - t1
    t1 = time.monotonic()
    with paths.truth.open("a") as fh:
        for rec in truth.records(world, epoch):
            fh.write(json.dumps(rec, sort_keys=True) + "\n")
    timings["truth"] = time.monotonic() - t1
    write_public_roots(paths, world)
    changed = sorted(k for k, v in new_hashes.items() if old_hashes.get(k) != v)
    return {"zones": len(new_hashes) + pdns_zones, "nsd_zones": len(new_hashes),
            "pdns_zones": pdns_zones, "listeners": listeners, "changed_zones": len(changed),
            "changed": changed, "timings": {k: round(v, 1) for k, v in timings.items()}}


def write_public_roots(paths: LabPaths, world: World) -> None:
    """The lab's 'public CA' roots: the trust store of the paper's PKIX view."""
    paths.pki.mkdir(parents=True, exist_ok=True)
    (paths.pki / "public-roots.pem").write_bytes(world.cas.public_root.pem)


def _cert_files(paths: LabPaths, presented: Presented) -> dict[str, str]:
    tag = hashlib.sha256(presented.leaf.der).hexdigest()[:20]
    chain = paths.pki / f"{tag}.chain.pem"
    key = paths.pki / f"{tag}.key.pem"
    if not chain.exists():
        chain.write_bytes(b"".join(c.pem for c in presented.chain))
        key.write_bytes(presented.leaf.key_pem())
        key.chmod(0o600)
    return {"chain": str(chain), "key": str(key)}


def write_smtp_config(paths: LabPaths, world: World, shard_size: int = 8000) -> int:
    """lab.smtpd configs, split so that no process holds more than ``shard_size`` listeners."""
    paths.pki.mkdir(parents=True, exist_ok=True)
    paths.smtp.mkdir(parents=True, exist_ok=True)
    listeners = []
    files_cache: dict[int, dict[str, str]] = {}
    for ip, (behaviour, certs) in sorted(world.smtp_listeners().items()):
        cmap = {}
        for name, presented in certs.items():
            k = id(presented)
            if k not in files_cache:
                files_cache[k] = _cert_files(paths, presented)
            cmap[name] = files_cache[k]
        listeners.append({"ip": ip, "port": 25, "behaviour": behaviour, "certs": cmap})
    for old in paths.smtp.glob("smtpd-*.json"):
        old.unlink()
    for i in range(0, max(len(listeners), 1), shard_size):
        shard = {"listeners": listeners[i:i + shard_size]}
        tmp = paths.smtp / f"smtpd-{i // shard_size}.json.tmp"
        tmp.write_text(json.dumps(shard))
        tmp.replace(paths.smtp / f"smtpd-{i // shard_size}.json")
    return len(listeners)
