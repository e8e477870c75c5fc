"""Time of a scenario discovery: ``python benchmarks/discover.py [--n 10000] [--city shanghai] [--workers 2]``.

The work: :func:`megacity_sd.discover.discover` for one city and its plan
targets (``scenarios/targets/<city>_plan.yaml``; ``--targets`` for another
file): a Latin hypercube of the 29 levers (seed 1), every set run 2005-2060 at
the model's TIME STEP through the ensemble runner (fast engine, a local pool of
``--workers`` processes, started inside the timing, into a fresh temporary
folder so nothing is resumed), the targets checked, PRIM (EMA Workbench) and
the extra-trees feature scores. Figures and files are not part of the timing.

The machine's load average is printed next to the result: timings on a shared
machine are noisy. The last line reads ``discover: runs=N seconds=S``.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000, help="runs (default %(default)s)")
    ap.add_argument("--city", default="shanghai")
    ap.add_argument("--targets", default=None, help="target file (default: <city>_plan)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    warnings.simplefilter("ignore")

    from megacity_sd.discover import RunOptions, discover
    from megacity_sd.targets import load_targets

    targets = load_targets(args.targets or f"{args.city}_plan")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"work: {args.n} runs of the levers, {args.city}, targets {targets.name} ({len(targets.targets)}), "
          f"{args.workers} workers; {os.cpu_count()} CPUs, load average {load:.2f} before", flush=True)
    t0 = time.perf_counter()
    d = discover(args.city, targets, n=args.n, seed=1, opts=RunOptions(workers=args.workers, progress=False))
    seconds = time.perf_counter() - t0
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"steps: runs (sampling, pool start, ensemble) {d.seconds['runs']:.1f} s, PRIM {d.seconds['prim']:.1f} s, "
          f"feature scores {d.seconds['features']:.1f} s; load average {load:.2f} after")
    print(f"share meeting every target: {100 * d.met['all targets'].mean():.2f} %")
    for w in d.words:
        print(f"box: {w}")
    print(f"discover: runs={len(d.params)} seconds={seconds:.1f}")


if __name__ == "__main__":
    main()
