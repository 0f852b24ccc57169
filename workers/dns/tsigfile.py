"""TSIG key files as operators hold them: pure parsing, text in, (name, algorithm, secret) out.

Accepted forms:

* BIND / ``tsig-keygen`` / ``ddns-confgen``: ``key "name" { algorithm hmac-sha256; secret "..."; };``
* Knot (``keymgr -t name``): ``key:`` / ``- id: name`` / ``algorithm: ...`` / ``secret: ...``
* one line ``[algorithm:]name:secret``, as ``nsupdate -y`` and ``knsupdate -y`` take it.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

import dns.exception
import dns.name

ALGORITHMS = ("hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384",
              "hmac-sha512")

_BIND = re.compile(r'key\s+"?([^"\s{]+)"?\s*\{(.*?)\}\s*;?', re.S)
_BIND_FIELD = re.compile(r'(algorithm|secret)\s+"?([^";\s]+)"?\s*;')
_YAML_FIELD = re.compile(r"^\s*-?\s*(id|algorithm|secret)\s*:\s*\"?([^\"\s#]+)\"?", re.M)


@dataclass(frozen=True)
class TsigKey:
    name: str
    algorithm: str  # e.g. "hmac-sha256"
    secret: str  # base64


class TsigFileError(ValueError):
    """The text is not a TSIG key in a known form (one line, for the user)."""


def _checked(name: str, algorithm: str, secret: str) -> TsigKey:
    algorithm = algorithm.lower().rstrip(".")
    if algorithm == "hmac-md5.sig-alg.reg.int":
        algorithm = "hmac-md5"
    if algorithm not in ALGORITHMS:
        raise TsigFileError(f"unknown TSIG algorithm {algorithm!r}")
    try:
        if not base64.b64decode(secret, validate=True):
            raise TsigFileError("empty TSIG secret")
    except binascii.Error:
        raise TsigFileError("the TSIG secret is not base64") from None
    if not name or len(name) > 253:
        raise TsigFileError("no TSIG key name")
    try:  # the key name goes into every signed message as a domain name (RFC 8945 4.2)
        dns.name.from_text(name)
    except dns.exception.DNSException as exc:
        raise TsigFileError(f"TSIG key name {name!r} is not a domain name ({exc})") from None
    return TsigKey(name=name, algorithm=algorithm, secret=secret)


def parse(text: str) -> TsigKey:
    """The first key in ``text``; :class:`TsigFileError` when there is none."""
    m = _BIND.search(text)
    if m:
        fields = dict(_BIND_FIELD.findall(m.group(2)))
        if "algorithm" in fields and "secret" in fields:
            return _checked(m.group(1), fields["algorithm"], fields["secret"])
        raise TsigFileError(f"key {m.group(1)!r} lacks an algorithm or a secret")
    fields = {}
    for k, v in _YAML_FIELD.findall(text):
        fields.setdefault(k, v)
    if fields:
        if not {"id", "algorithm", "secret"} <= fields.keys():
            raise TsigFileError("a Knot key needs id, algorithm and secret")
        return _checked(fields["id"], fields["algorithm"], fields["secret"])
    lines = [line.strip() for line in text.splitlines() if line.strip()
             and not line.lstrip().startswith(("#", ";"))]
    if len(lines) == 1 and lines[0].count(":") in (1, 2):
        parts = lines[0].split(":")
        if len(parts) == 2:
            return _checked(parts[0], "hmac-sha256", parts[1])
        return _checked(parts[1], parts[0], parts[2])
    raise TsigFileError("no TSIG key in it (BIND 'key \"name\" {...};', Knot 'key: - id:', "
                        "or 'algorithm:name:secret')")
