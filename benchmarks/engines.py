"""Runs per second of the two engines on the full model, measured side by side.

Usage: ``python benchmarks/engines.py [--repeat N]``. Prints a table and, as
its last line, ``engines: simlin=<runs/s> pysd=<runs/s> ratio=<simlin/pysd>``.
Timings on shared machines are noisy: compare the ratio, not absolute values.
"""

from __future__ import annotations

import argparse
import time

from megacity_sd.model import canonical, load_pysd, load_simlin
from megacity_sd.scenario import load_scenario


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    params = load_scenario("combined").constants
    pysd_model = load_pysd()
    sim_model = load_simlin()
    pysd_model.run(params=params)  # warm up
    sim_model.run(overrides={canonical(k): v for k, v in params.items()}, analyze_loops=False)
    rates = {}
    for name, fn in (
        ("pysd (loaded once, run with params)", lambda: pysd_model.run(params=params)),
        ("pysimlin (loaded once, run with overrides)",
         lambda: sim_model.run(overrides={canonical(k): v for k, v in params.items()}, analyze_loops=False)),
    ):
        n = args.repeat if name.startswith("pysd") else args.repeat * 50
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        rates[name] = n / (time.perf_counter() - t0)
    for name, rate in rates.items():
        print(f"{name:<45} {rate:10.2f} runs/s")
    pysd_rate, simlin_rate = rates.values()
    print(f"engines: simlin={simlin_rate:.2f} pysd={pysd_rate:.2f} ratio={simlin_rate / pysd_rate:.1f}")


if __name__ == "__main__":
    main()
