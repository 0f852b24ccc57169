"""Registered domains by the Public Suffix List (methodology.md section 4).

The list is read from ``DANESCAN_PSL`` when set, else Debian's ``publicsuffix`` package
(/usr/share/publicsuffix/public_suffix_list.dat), else the copy bundled with publicsuffix2.
The matching (normal, wildcard and exception rules; the implicit "*" rule) is pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from workers.names import canonical, relative

DEBIAN_LIST = Path("/usr/share/publicsuffix/public_suffix_list.dat")


@dataclass(frozen=True)
class SuffixList:
    rules: frozenset[str]  # "co.uk", "*.ck" (wildcards keep their star)
    exceptions: frozenset[str]  # "www.ck" for "!www.ck"

    @classmethod
    def parse(cls, lines: Iterable[str]) -> SuffixList:
        rules: set[str] = set()
        exceptions: set[str] = set()
        for raw in lines:
            line = raw.strip().split()[0] if raw.strip() else ""
            if not line or line.startswith("//"):
                continue
            line = canonical(line)
            if line.startswith("!"):
                exceptions.add(line[1:])
            else:
                rules.add(line)
        return cls(frozenset(rules), frozenset(exceptions))

    def public_suffix(self, name: str) -> str:
        """The public suffix of ``name`` (lower case A-labels, with or without the final dot)."""
        labels = relative(name).lower().split(".")
        for i in range(len(labels)):  # longest candidate first: the prevailing rule wins
            candidate = ".".join(labels[i:])
            if candidate in self.exceptions:
                return ".".join(labels[i + 1:])
            parent = ".".join(labels[i + 1:])
            if candidate in self.rules or (parent and f"*.{parent}" in self.rules):
                return candidate
        return labels[-1]  # the implicit rule "*"

    def registered(self, name: str) -> str:
        """The registered domain (public suffix plus one label); '' for a public suffix itself."""
        labels = relative(name).lower().split(".")
        suffix = self.public_suffix(name)
        n = suffix.count(".") + 1
        if len(labels) <= n:
            return ""
        return ".".join(labels[-(n + 1):])


def second_level(name: str) -> str:
    """The paper's simplification: the last two labels."""
    return ".".join(relative(name).lower().split(".")[-2:])


def load(path: str | None = None) -> SuffixList:
    candidates = [Path(path)] if path else []
    candidates.append(DEBIAN_LIST)
    try:
        import publicsuffix2

        candidates.append(Path(publicsuffix2.__file__).parent / "public_suffix_list.dat")
    except ImportError:
        pass
    for p in candidates:
        if p.is_file():
            return SuffixList.parse(p.read_text(encoding="utf-8").splitlines())
    raise FileNotFoundError("no Public Suffix List found (set DANESCAN_PSL, or apt-get install "
                            "publicsuffix)")
