"""What the Internet's broken name servers cost a scan: the embedded scan of the internet-shaped
lab, and of the same lab without its name server faults (``--shape internet-clean``: the same
domains, none lame, REFUSED, slow, gone or SERVFAIL), each from a fresh resolver cache.

Prints both runs (domains/s over the whole run and steady: the middle 80 % of the domains over the
seconds between their writes; seconds; CPU ms per domain) and the ratios of the rates as lines
``faults/clean: X`` (steady; issue 13's goal: 0.9 or more: a lame server should cost its own
domains time, not everyone's) and ``faults/clean, whole run: Y``. The whole run ends with a tail of
about 30 s that the faults make (lame servers waited out 2+4+8 s, after unbound's own tries), which
weighs on a 100,000-domain run and not on a nightly .com.

    python benchmarks/bench_faults.py --domains 100000

Each lab is built in the first free slot and removed afterwards.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_cluster import run_embedded

from lab import control


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--domains", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    runs: dict[str, dict[str, float]] = {}
    for shape in ("internet", "internet-clean"):
        tmp = Path(tempfile.mkdtemp(prefix="bench-faults-"))
        try:
            lab = control.up(tmp / "lab", args.domains, seed=args.seed, slot=None, shape=shape)
            try:
                runs[shape] = run_embedded(lab, tmp, 500)
            finally:
                control.down(tmp / "lab")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"embedded scan, {args.domains:,} domains, seed {args.seed}, fresh resolver cache")
    print(f"{'lab':>15} {'domains/s':>10} {'steady/s':>9} {'seconds':>8} {'CPU ms/domain':>14}")
    for name, x in runs.items():
        print(f"{name:>15} {x['rate']:>10,.0f} {x['steady']:>9,.0f} {x['seconds']:>8.1f} "
              f"{x['cpu_ms']:>14.2f}")
    faults, clean = runs["internet"], runs["internet-clean"]
    print(f"faults/clean: {faults['steady'] / clean['steady']:.2f}")
    print(f"faults/clean, whole run: {faults['rate'] / clean['rate']:.2f}")


if __name__ == "__main__":
    main()
