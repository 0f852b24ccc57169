"""Reference identifiers and leaf name checks (RFC 6125 section 6, RFC 7672 sections 3.2.2-3.2.3).

* Reference identifiers are DNS names: the MX host name (the TLSA base domain) and any initial
  name before a secure CNAME expansion (RFC 7672 3.2.2). Compared case-insensitively, without a
  trailing dot.
* Presented identifiers are the leaf's subjectAltName dNSName entries; only when it has none, the
  subject's commonName values (RFC 6125 6.4.4, and what OpenSSL's ``X509_check_host`` does).
* A wildcard is accepted only as the whole left-most label (``*.example.com``), matches exactly
  one non-empty label, and needs at least two labels after it, so ``*.com`` matches nothing.
  Partial-label wildcards (``mx*.example.com``) never match: RFC 7672 3.2.3, and Postfix sets
  OpenSSL's ``X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS``.
"""

from __future__ import annotations

from collections.abc import Iterable

from cryptography import x509
from cryptography.x509.oid import NameOID

from workers.dane.loading import CERT_ERRORS
from workers.names import relative


def normalize_name(name: str) -> str:
    return relative(name.strip()).lower()


def presented_names(cert: x509.Certificate) -> tuple[str, ...]:
    """DNS names the certificate asserts: SAN dNSNames, else subject CNs."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = san.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        dns = []
    except CERT_ERRORS:  # malformed or duplicate extensions: OpenSSL refuses the certificate
        return ()
    if dns:
        return tuple(normalize_name(n) for n in dns)
    cns: list[str] = []
    try:
        attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except CERT_ERRORS:
        return ()
    for attr in attrs:
        value = attr.value
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        cns.append(normalize_name(value))
    return tuple(cns)


def name_matches(presented: str, reference: str) -> bool:
    """One presented identifier against one reference identifier (both normalised)."""
    if not presented or not reference:
        return False
    if "*" not in presented:
        return presented == reference
    labels = presented.split(".")
    if labels[0] != "*" or "*" in presented[1:] or len(labels) < 3 or "" in labels[1:]:
        return False
    ref_labels = reference.split(".")
    if len(ref_labels) != len(labels) or not ref_labels[0]:
        return False
    return ref_labels[1:] == labels[1:]


def leaf_matches(cert: x509.Certificate, references: Iterable[str]) -> bool:
    names = presented_names(cert)
    refs = [normalize_name(r) for r in references]
    return any(name_matches(p, r) for p in names for r in refs)
