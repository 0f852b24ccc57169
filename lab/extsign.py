"""Sign a TLD zone with a signer the project did not write, the ways registries sign theirs.

* ``nsec3-optout``: BIND's ``dnssec-signzone -3 - -A`` (NSEC3, no salt, no extra iterations,
  opt-out), as .com and .org are signed: a delegation without DS gets no NSEC3 of its own; the
  opt-out NSEC3 that covers its hash proves that it has no DS.
* ``nsec3``: ``ldns-signzone -n`` (NSEC3 without opt-out, no salt, no extra iterations), as .se.

The key is the lab's own (:class:`lab.signer.SigningKey`, ECDSA P-256, flags 257), written as
BIND key files (``K<zone>.+013+<tag>.key`` / ``.private``, ``Private-key-format: v1.3``), which
both signers read; so the DS in the parent stays ``key.ds(origin)``. Signatures have the window
of the project's own NSEC signer (:func:`lab.signer.validity`).

The commands are built by pure functions; :func:`sign` writes the key files and the unsigned
zone into a work directory, runs the signer there and leaves the zone as the signer wrote it.
"""

from __future__ import annotations

import base64
import datetime as dt
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dns.dnssec
from dns.rdtypes.ANY.DNSKEY import DNSKEY

from lab.signer import SigningKey, validity

DNSKEY_TTL = 3600
TIMEOUT = 3600.0  # seconds; a loaded machine is slow, a hung signer must still end


class SignerError(Exception):
    """A one-line reason why an external signer could not sign a zone."""


@dataclass(frozen=True)
class KeyFiles:
    base: str  # K<origin>+013+<tag>, the name both signers are given
    public: str  # text of <base>.key
    private: str  # text of <base>.private


def key_files(origin: str, key: SigningKey, ttl: int = DNSKEY_TTL) -> KeyFiles:
    """The lab key as BIND key files (what ``dnssec-keygen -a ECDSAP256SHA256 -f KSK`` writes,
    without timing metadata: the key is published and active)."""
    if not origin.endswith("."):
        raise ValueError(f"origin must be absolute, got {origin!r}")
    dnskey = key.dnskey
    if not isinstance(dnskey, DNSKEY):
        raise TypeError(f"not a DNSKEY: {dnskey!r}")
    tag = dns.dnssec.key_id(dnskey)
    scalar = key.key.private_numbers().private_value.to_bytes(32, "big")
    return KeyFiles(
        base=f"K{origin}+{int(dnskey.algorithm):03d}+{tag:05d}",
        public=f"{origin} {ttl} IN DNSKEY {dnskey.to_text()}\n",
        private=("Private-key-format: v1.3\n"
                 "Algorithm: 13 (ECDSAP256SHA256)\n"
                 f"PrivateKey: {base64.b64encode(scalar).decode()}\n"),
    )


def stamp(t: int) -> str:
    """YYYYMMDDHHMMSS in UTC, the date form both signers take."""
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y%m%d%H%M%S")


def dnssec_signzone_argv(origin: str, unsigned: str, out: str, key_base: str,
                         now: int) -> list[str]:
    """BIND: NSEC3 (hash SHA-1, salt none, 0 extra iterations), opt-out; one KSK signs all."""
    inception, expiration = validity(now)
    return ["dnssec-signzone", "-3", "-", "-A", "-H", "0", "-z", "-o", origin,
            "-s", stamp(inception), "-e", stamp(expiration), "-f", out, unsigned, key_base]


def ldns_signzone_argv(origin: str, unsigned: str, out: str, key_base: str,
                       now: int) -> list[str]:
    """ldns: NSEC3 (hash SHA-1, no salt, 0 extra iterations), no opt-out."""
    inception, expiration = validity(now)
    return ["ldns-signzone", "-n", "-t", "0", "-o", origin, "-i", stamp(inception),
            "-e", stamp(expiration), "-f", out, unsigned, key_base]


@dataclass(frozen=True)
class Signer:
    tool: str
    package: str  # the Debian package that has it
    argv: Callable[[str, str, str, str, int], list[str]]


SIGNERS: dict[str, Signer] = {
    "nsec3-optout": Signer("dnssec-signzone", "bind9-utils", dnssec_signzone_argv),
    "nsec3": Signer("ldns-signzone", "ldnsutils", ldns_signzone_argv),
}


def signer_input(unsigned_text: str, keys: KeyFiles) -> str:
    """The unsigned zone with the key's DNSKEY at the apex (dnssec-signzone signs only with keys
    it finds there)."""
    return unsigned_text.rstrip("\n") + "\n" + keys.public


def sign(method: str, origin: str, unsigned_text: str, key: SigningKey, now: int,
         workdir: Path, out: Path) -> None:
    """Sign ``unsigned_text`` (master-file text of zone ``origin``) with ``method`` into ``out``.

    ``workdir`` keeps the key files, the signer's input and its side files (dsset-*)."""
    signer = SIGNERS.get(method)
    if signer is None:
        raise ValueError(f"unknown signing method {method!r}; known: {', '.join(SIGNERS)}")
    keys = key_files(origin, key)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / f"{keys.base}.key").write_text(keys.public)
    private = workdir / f"{keys.base}.private"
    private.write_text(keys.private)
    private.chmod(0o600)
    unsigned = workdir / f"{origin.rstrip('.') or 'root'}.unsigned"
    unsigned.write_text(signer_input(unsigned_text, keys))
    tmp = out.with_name(out.name + ".signing")
    tmp.unlink(missing_ok=True)
    argv = signer.argv(origin, str(unsigned), str(tmp), keys.base, now)
    try:
        proc = subprocess.run(argv, cwd=workdir, capture_output=True, text=True,
                              timeout=TIMEOUT, check=False)
    except FileNotFoundError:
        raise SignerError(f"{signer.tool} is missing, needed to sign {origin} ({method}): "
                          f"apt-get install -y {signer.package}  (or: bash lab/install-packages.sh)"
                          ) from None
    except subprocess.TimeoutExpired:
        raise SignerError(f"{signer.tool} did not finish signing {origin} within {TIMEOUT:.0f} s; "
                          f"its input is in {workdir}") from None
    if proc.returncode != 0 or not tmp.exists() or tmp.stat().st_size == 0:
        said = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()[-1]
        raise SignerError(f"{signer.tool} failed to sign {origin} (exit {proc.returncode}): "
                          f"{said[:200]}; its input is in {workdir}")
    tmp.replace(out)
