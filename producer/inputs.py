"""The inputs of a scan, streamed: zone files (plain or gzip) and domain lists, in order.

A damaged input (:class:`producer.inputfile.InputDamaged`: a gzip file cut short or corrupt, NUL
bytes, ...) yields the domains read before the damage, and the damage is recorded in
:class:`InputStats`; the next input is read then. Used by the embedded scan and by the enqueue.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from workers.dns import DomainInput


class InputError(Exception):
    """A one-line reason why an input cannot be read at all (missing, not a readable file)."""


# malformed-line examples kept per input: every damaged input gets its own among those shown
EXAMPLES_PER_INPUT = 3

@dataclass(frozen=True)
class Damage:
    """A damaged input: the one-line description, and the domains read from it before."""

    text: str
    domains: int


@dataclass
class InputStats:
    files: list[str] = field(default_factory=list)
    domains: int = 0
    malformed: int = 0
    malformed_examples: list[str] = field(default_factory=list)
    damage: list[Damage] = field(default_factory=list)
    ns_cut: int = 0  # NS records beyond the bound per delegation (producer.zonefile)

    def damage_reason(self, limit: int = 2000) -> str:
        """The damage of every damaged input, for the scan's status_reason."""
        text = "; ".join(d.text for d in self.damage)
        return text if len(text) <= limit else text[: limit - 3] + "..."


def iter_inputs(paths: Sequence[str], stats: InputStats) -> Iterator[DomainInput]:
    """Domains of zone files (plain or gzip) or domain lists, in order, streamed.

    A damaged input yields what was read before the damage, which goes to ``stats.damage``;
    the next input is read then. Text from the inputs (examples, names) is printable.
    """
    from producer.domains import DomainListStats, InputFormat, detect_format, read_domains
    from producer.inputfile import InputDamaged
    from producer.printable import printable
    from producer.zonefile import read_zone

    for path in paths:
        p = Path(path)
        shown = printable(path, 300)
        if not p.exists():
            raise InputError(f"{shown}: no such file")
        if not os.access(p, os.R_OK) or p.is_dir():
            raise InputError(f"{shown}: not a readable file")
        stats.files.append(path)
        before = stats.domains
        try:
            if detect_format(p) == InputFormat.ZONE:
                parser, delegations = read_zone(p)
                try:
                    for d in delegations:
                        stats.domains += 1
                        yield DomainInput(d.name, d.ns, d.has_ds)
                finally:
                    zs = parser.stats()
                    stats.malformed += zs.malformed
                    stats.ns_cut += zs.ns_cut
                    stats.malformed_examples += [f"{shown}:{m.line}: {m.reason}: {m.text}"
                                                 for m in zs.examples[:EXAMPLES_PER_INPUT]]
            else:
                ls = DomainListStats()
                try:
                    for d in read_domains(p, ls):
                        stats.domains += 1
                        yield DomainInput(d.name)
                finally:
                    stats.malformed += ls.invalid
                    stats.malformed_examples += [f"{shown}:{e.line}: {e.problem}: {e.text}"
                                                 for e in ls.examples[:EXAMPLES_PER_INPUT]]
        except InputDamaged as damage:
            stats.damage.append(Damage(str(damage), stats.domains - before))


def chunks(items: Iterable[DomainInput], size: int) -> Iterator[list[DomainInput]]:
    batch: list[DomainInput] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
