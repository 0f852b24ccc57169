"""Turn a TLSA record's intent (lab.scenarios.Tlsa) into its published bytes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from lab.pki import Authorities, Issued, Presented
from lab.scenarios import Tlsa


def association(cert: Issued, selector: int, mtype: int) -> bytes:
    raw = cert.der if selector == 0 else cert.spki_der
    if mtype == 1:
        return hashlib.sha256(raw).digest()
    if mtype == 2:
        return hashlib.sha512(raw).digest()
    return raw


def tlsa_bytes(t: Tlsa, presented: Presented, cas: Authorities,
               leaf_of_gen: Callable[[int, int], Issued], salt: str) -> tuple[int, int, int, bytes]:
    """(usage, selector, mtype, data) as published for intent ``t``."""
    sel = t.selector if t.data_selector is None else t.data_selector
    mt = t.mtype if t.data_mtype is None else t.data_mtype
    # keep undefined selector/mtype values computable: hash as SPKI SHA-256
    sel = sel if sel in (0, 1) else 1
    mt = mt if mt in (0, 1, 2) else 1
    if t.of == "empty":
        data = hashlib.sha256(b"").digest() if mt != 2 else hashlib.sha512(b"").digest()
    elif t.of == "random":
        data = hashlib.sha256(f"random:{salt}:{t}".encode()).digest()
        if mt == 2:
            data += hashlib.sha256(f"random2:{salt}:{t}".encode()).digest()
    elif t.of == "leaf":
        data = association(presented.leaf, sel, mt)
    elif t.of.startswith("leaf@"):  # leaf@K or leaf@K.C: key generation K, certificate C
        key_gen, _, cert_gen = t.of[5:].partition(".")
        data = association(leaf_of_gen(int(key_gen), int(cert_gen or 0)), sel, mt)
    elif t.of == "issuer":
        data = association(presented.chain[1], sel, mt)
    elif t.of == "root":
        if presented.root is None:
            raise ValueError("TLSA intent 'root' needs a chain with a root")
        data = association(presented.root, sel, mt)
    elif t.of.startswith("ca:"):
        data = association(cas.by_name(t.of[3:]), sel, mt)
    else:
        raise ValueError(f"unknown TLSA intent {t.of!r}")
    return t.usage, t.selector, t.mtype, data
