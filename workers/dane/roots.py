"""The default PKIX root store for the paper view: certifi's copy of Mozilla's bundle.

The only module of this package that reads a file; call it once per process and pass the
result to every ``dane_verdict`` call.
"""

from __future__ import annotations

from pathlib import Path

import certifi

from workers.dane.chain import TrustStore


def mozilla_trust_store() -> TrustStore:
    return TrustStore.from_pem(Path(certifi.where()).read_bytes())
