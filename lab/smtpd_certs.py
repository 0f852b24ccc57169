"""Quick certificate chains for ``lab.smtpd`` tests and benchmarks (ECDSA P-256, ``cryptography``).

``write_chain`` makes root -> intermediates -> leaf and writes the presented chain (leaf first,
root left out, as servers send it) and the leaf key, returning the DER the server will present.
"""

from __future__ import annotations

import base64
import datetime
import textwrap
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lab.pki import Issued

_EPOCH = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)


def issue(
    cn: str, issuer: Issued | None, *, ca: bool, sans: tuple[str, ...] = (), serial: int = 1
) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.cert.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(_EPOCH)
        .not_valid_after(_EPOCH + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in sans]), critical=False
        )
    signer = issuer.key if issuer else key
    return Issued(builder.sign(signer, hashes.SHA256()), key)


def write_chain(
    directory: Path,
    name: str,
    *,
    intermediates: int = 1,
    mangle_leaf: Callable[[bytes], bytes] | None = None,
) -> tuple[Path, Path, list[bytes]]:
    """Write ``name.pem`` (leaf first) and ``name.key``; return their paths and the presented DER.

    ``mangle_leaf`` rewrites the leaf's DER (same key), for certificates the builder cannot make.
    """
    directory.mkdir(parents=True, exist_ok=True)
    root = issue(f"{name} root", None, ca=True)
    above = root
    chain: list[Issued] = []
    for i in range(intermediates):
        above = issue(f"{name} intermediate {i}", above, ca=True, serial=i + 2)
        chain.append(above)
    leaf = issue(name, above, ca=False, sans=(name,), serial=1000)
    leaf_der = mangle_leaf(leaf.der) if mangle_leaf else leaf.der
    ders = [leaf_der] + [c.der for c in reversed(chain)]
    pem = b"".join(_pem(d) for d in ders)
    chain_path = directory / f"{name}.pem"
    key_path = directory / f"{name}.key"
    chain_path.write_bytes(pem)
    key_path.write_bytes(
        leaf.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return chain_path, key_path, ders


def _pem(der: bytes) -> bytes:
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode("ascii"), 64))
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n".encode()
