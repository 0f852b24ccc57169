"""Who is scanning: the EHLO name and a contact, required for any scan beyond loopback (issue 14).

Internet scanners identify themselves (ZMap's and OpenINTEL's guidelines): the mail servers'
operators see the EHLO name in their logs, and the name should lead to a page or an address that
explains the scan and takes opt-out requests. The defaults (``danescan.invalid`` and no contact)
are only acceptable in the loopback lab and the tests.

Pure: the callers (``danescan scan``, ``danescan enqueue``, ``danescan worker``) pass what they
know, and print the returned problem as their one-line error.
"""

from __future__ import annotations

import ipaddress
import re

DEFAULT_EHLO = "danescan.invalid"
# RFC 2606/6761 names that cannot identify anyone
_RESERVED = ("invalid", "example", "test", "localhost", "local")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
FIX = "set DANESCAN_EHLO_NAME and DANESCAN_CONTACT (or --ehlo-name and --contact)"


def ehlo_problem(name: str) -> str | None:
    """None when ``name`` can identify a scanner in EHLO: a fully qualified host name, not a
    reserved one; else what is wrong with it."""
    text = name.strip().rstrip(".").lower()
    if not text or text == DEFAULT_EHLO:
        return f"the EHLO name is the default {DEFAULT_EHLO!r}"
    labels = text.split(".")
    if len(text) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return f"the EHLO name {name!r} is not a fully qualified host name"
    if labels[-1] in _RESERVED or (len(labels) >= 2 and labels[-2] == "example"):
        return f"the EHLO name {name!r} is a reserved name that identifies no one"
    return None


def contact_problem(contact: str) -> str | None:
    """None for a usable contact (an e-mail address or a URL, printable, at most 200 chars)."""
    text = contact.strip()
    if not text:
        return "no contact is set"
    if len(text) > 200 or not text.isprintable():
        return "the contact must be one printable line of at most 200 characters"
    if "@" not in text and "://" not in text:
        return f"the contact {contact!r} is neither an e-mail address nor a URL"
    return None


def is_loopback(address: str) -> bool:
    """``address`` (ADDR, ADDR:PORT or [V6]:PORT) is a loopback address."""
    host = address.strip()
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def identity_problem(ehlo_name: str, contact: str, resolver: str,
                     private_root: bool | None) -> str | None:
    """One line saying why this scan may not start, or None.

    A scan counts as one on loopback only when its resolver is a loopback address and its trust
    anchor is a private root (a lab's, not IANA's); ``private_root`` None means the anchor is not
    known here (a worker: it comes with each scan), and the resolver alone decides."""
    problem = ehlo_problem(ehlo_name) or contact_problem(contact)
    if problem is None:
        return None
    lab = is_loopback(resolver) and private_root is not False
    if lab:
        return None
    where = (f"resolver {resolver} is not a loopback address" if not is_loopback(resolver)
             else "the trust anchor is the Internet's root")
    return (f"{problem}: a scan beyond loopback must identify itself ({where}); {FIX}, "
            f"e.g. scan1.<your domain> and mailto:<who answers for the scan>")
