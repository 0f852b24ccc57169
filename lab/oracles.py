"""Reference implementations the lab and the verdicts are checked against.

* unbound: the AD bit, SERVFAIL (and an answer with CD set) give the DNSSEC status; its log
  (``val-log-level: 2``) gives the reason.
* posttls-finger (Postfix's DANE client): what an RFC 7672 client does with an MX host. It reads
  its resolver only from /etc/resolv.conf, so it runs in a private mount namespace with a
  bind-mounted resolv.conf (``options trust-ad``: glibc strips the AD bit otherwise). It exits 0
  whatever happens: its lines are parsed.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import dns.flags
import dns.rcode

from lab.servers import query_header
from workers.vocab import DnssecReason, DnssecStatus, RfcOutcome

MARK = "=== danescan-oracle "


def unbound_status(resolver: str, name: str, rtype: str) -> DnssecStatus:
    r = query_header(resolver, name, rtype, timeout=5)
    if r is None:
        return DnssecStatus.INDETERMINATE
    rcode, flags = r
    if rcode == dns.rcode.SERVFAIL:
        cd = query_header(resolver, name, rtype, cd=True, timeout=5)
        if cd is not None and cd[0] != dns.rcode.SERVFAIL:
            return DnssecStatus.BOGUS
        return DnssecStatus.INDETERMINATE
    return DnssecStatus.SECURE if flags & dns.flags.AD else DnssecStatus.INSECURE


# unbound's words for why validation failed, mapped to the project's reasons
UNBOUND_REASONS: tuple[tuple[str, DnssecReason], ...] = (
    ("signature expired", DnssecReason.SIGNATURE_EXPIRED),
    ("signature before inception date", DnssecReason.SIGNATURE_NOT_YET_VALID),
    ("signature crypto failed", DnssecReason.SIGNATURE_INVALID),
    ("no signatures", DnssecReason.RRSIG_MISSING),
    ("no keys have a DS", DnssecReason.DS_MISMATCH),
    ("no DNSKEY rrset", DnssecReason.NO_MATCHING_DNSKEY),
)


def unbound_reason(log: Path, name: str, rtype: str) -> DnssecReason | None:
    """The reason unbound logged for the last validation failure of (name, rtype)."""
    pat = re.compile(rf"validation failure <{re.escape(name.rstrip('.'))}\.? {rtype} IN>: (.*)")
    found: DnssecReason | None = None
    for line in log.read_text(errors="replace").splitlines():
        m = pat.search(line)
        if m:
            text = m.group(1)
            found = next((r for k, r in UNBOUND_REASONS if k in text), DnssecReason.BOGUS_OTHER)
    return found


def posttls_finger_outcome(lines: list[str]) -> RfcOutcome:
    """What Postfix's DANE client did, from posttls-finger's lines (methodology: RFC view)."""
    text = "\n".join(lines)
    # "Trusted": DANE matched but the MX RRset was insecure; Postfix still enforces DANE then
    if "Verified TLS connection established" in text or "Trusted TLS connection established" in text:
        return RfcOutcome.VERIFIED
    if "TLSA lookup error" in text or "num=65:" in text or "num=62:" in text:
        return RfcOutcome.DEFER
    dane_unusable = ("TLSA records unusable" in text or "unusable TLSA RR" in text
                     or "unsupported TLSA" in text)
    if "Untrusted TLS connection established" in text or "Anonymous TLS connection" in text:
        return RfcOutcome.ENCRYPT_ONLY if dane_unusable else RfcOutcome.NO_DANE
    # no TLS session at all: no STARTTLS, 454, handshake failure, connection refused
    return RfcOutcome.DEFER


def run_posttls_finger(destinations: list[str], resolver: str, workdir: Path,
                       timeout: float = 15.0) -> dict[str, list[str]]:
    """posttls-finger ``-c -l dane`` against each destination (``[host]`` or a domain)."""
    if shutil.which("posttls-finger") is None and not Path("/usr/sbin/posttls-finger").exists():
        raise RuntimeError("posttls-finger is missing: apt-get install postfix")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "resolv.conf").write_text(f"nameserver {resolver}\noptions trust-ad\n")
    (workdir / "main.cf").write_text("smtp_dns_support_level = dnssec\n"
                                     "smtp_tls_security_level = dane\ncompatibility_level = 3.6\n")
    script = [f"mount --bind {shlex.quote(str(workdir / 'resolv.conf'))} /etc/resolv.conf"]
    for dest in destinations:
        script.append(f"echo {shlex.quote(MARK + dest)}")
        script.append(f"MAIL_CONFIG={shlex.quote(str(workdir))} timeout {timeout:.0f} "
                      f"posttls-finger -c -t 10 -T 10 -l dane {shlex.quote(dest)} 2>&1")
    proc = subprocess.run(["unshare", "-m", "sh", "-c", "\n".join(script)], capture_output=True,
                          text=True, timeout=30 + len(destinations) * (timeout + 1), check=False)
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in proc.stdout.splitlines():
        if line.startswith(MARK):
            current = out.setdefault(line[len(MARK):], [])
        elif current is not None:
            current.append(line)
    missing = [d for d in destinations if d not in out]
    if missing:
        raise RuntimeError(f"posttls-finger did not run for {missing[:3]}: {proc.stderr[-300:]}")
    return out
