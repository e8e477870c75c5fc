"""Runs per second of the ensemble paths, measured side by side on the same work.

Usage: ``python benchmarks/ensemble.py [--n 20000] [--plain 3] [--time-step DT]``.

The work: parameter sets of the 16 uncertain parameters of
``scenarios/uncertainty.yaml`` (SALib Latin hypercube, seed 1) on top of the
Shanghai baseline, the full model 2005-2060 at the model's TIME STEP (1/8 year,
440 Euler steps) unless ``--time-step`` is given. Every path runs the first
sets of the same table:

* plain PySD loop: ``pysd.load(translation).run(params=...)``, PySD as
  installed, every variable returned (what a user writes);
* accelerated PySD, serial: :class:`megacity_sd.engines.fast.FastModel` ``run``,
  one set at a time, every variable returned;
* pysimlin serial: ``model.simulate(overrides)``, ``run_to_end()``, the four
  indicator variables read back;
* the ensemble runner (:func:`megacity_sd.ensemble.run_ensemble`: batches,
  indicators computed, every batch written to disk), accelerated PySD engine,
  with a local pool of 2 workers and with a Dask LocalCluster of 2 worker
  processes, both already started (model loaded in each worker); plus the
  pool with the pysimlin engine, and the pool's time including its start.

The accelerated runs are checked against the plain PySD runs of the same sets
(largest relative difference printed). The last line reads
``ensemble: fast=<runs/s> reference=<runs/s> ratio=<fast/reference>`` with
fast = the ensemble runner with 2 local workers and reference = the plain
PySD loop. Timings on shared machines are noisy: compare ratios.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd


def _sets(n: int, seed: int = 1) -> pd.DataFrame:
    from megacity_sd.scenario import load_scenario
    from megacity_sd.sensitivity import load_uncertainty

    unc = load_uncertainty(scenario=load_scenario("baseline"))
    sp = unc.problem()
    sp.sample_latin(n, seed=seed)
    return pd.DataFrame(sp.samples, columns=unc.names)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000, help="sets through the ensemble runner (default %(default)s)")
    ap.add_argument("--plain", type=int, default=3, help="runs of the plain PySD loop (about 1 s each)")
    ap.add_argument("--serial", type=int, default=40, help="runs of the accelerated PySD serial path")
    ap.add_argument("--simlin", type=int, default=300, help="runs of pysimlin serial")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--time-step", type=float, default=None, help="default: the model's TIME STEP (1/8)")
    args = ap.parse_args()
    warnings.simplefilter("ignore")

    import pysd

    from megacity_sd.engines.fast import load_fast
    from megacity_sd.ensemble import DaskRunner, LocalRunner, run_ensemble
    from megacity_sd.model import canonical, load_simlin, model_doc, translated_path
    from megacity_sd.scenario import load_scenario

    base = load_scenario("baseline").constants
    sets = _sets(args.n)
    rows = [dict(zip(sets.columns, r, strict=True)) for r in sets.to_numpy().tolist()]
    dt = args.time_step if args.time_step is not None else model_doc()["time_step"].value
    print(f"work: {args.n} parameter sets x 16 uncertain parameters, Shanghai baseline, 2005-2060, "
          f"TIME STEP {dt:g} year ({round(55 / dt)} steps); 2 cores", flush=True)
    rates: dict[str, float] = {}
    notes: dict[str, str] = {}

    # plain PySD loop, as installed
    t0 = time.perf_counter()
    plain_model = pysd.load(str(translated_path()))
    load_s = time.perf_counter() - t0
    plain = []
    t0 = time.perf_counter()
    for p in rows[:args.plain]:
        plain.append(plain_model.run(params={**base, **p}, time_step=args.time_step))
    rates["plain PySD loop (pysd.load(...).run(params=...))"] = args.plain / (time.perf_counter() - t0)
    notes["plain PySD loop (pysd.load(...).run(params=...))"] = f"load {load_s:.2f} s once"

    # accelerated PySD, serial, full output
    t0 = time.perf_counter()
    fast = load_fast()
    cols = list(plain[0].columns)
    fast.run({**base, **rows[0]}, cols, time_step=args.time_step)  # builds the loop once
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    got = [fast.run({**base, **p}, cols, time_step=args.time_step) for p in rows[:args.serial]]
    r = args.serial / (time.perf_counter() - t0)
    rates["accelerated PySD, serial (every variable)"] = r
    notes["accelerated PySD, serial (every variable)"] = f"{1000 / r:.1f} ms/run; build {build_s:.2f} s once"
    diff = 0.0
    for a, b in zip(got, plain, strict=False):
        x, y = a.to_numpy(dtype=float), b[cols].to_numpy(dtype=float)
        big = np.abs(y) > 1e-9
        diff = max(diff, float(np.max(np.where(big, np.abs(x - y) / np.where(big, np.abs(y), 1), np.abs(x - y)))))

    # pysimlin serial
    sim = load_simlin()
    if args.time_step is not None:
        sim.project.set_sim_specs(dt=float(args.time_step))
    names = [canonical(v) for v in ("CO2 emissions", "PM25", "Population", "air pollutant equivalent")]
    ovb = {canonical(k): v for k, v in base.items()}
    t0 = time.perf_counter()
    for p in rows[:args.simlin]:
        s = sim.simulate({**ovb, **{canonical(k): v for k, v in p.items()}})
        s.run_to_end()
        for nm in names:
            s.get_series(nm)
    rates["pysimlin serial"] = args.simlin / (time.perf_counter() - t0)

    with tempfile.TemporaryDirectory(prefix="megacity-bench-") as tmp:
        tmp = Path(tmp)
        kw = {"base": base, "time_step": args.time_step, "progress": False}
        # local pool: cold (start included) and warm
        t0 = time.perf_counter()
        with LocalRunner(args.workers) as runner:
            runner.warm_up()
            start_s = time.perf_counter() - t0
            run_ensemble(sets.iloc[:64], tmp / "warm", runner=runner, engine="fast", **kw)
            t1 = time.perf_counter()
            res = run_ensemble(sets, tmp / "pool", runner=runner, engine="fast", **kw)
            warm = time.perf_counter() - t1
            key = f"ensemble runner, pool {args.workers} workers (accelerated PySD)"
            rates[key] = args.n / warm
            notes[key] = (f"batches of {res.stats['batch_size']}; incl. pool start {args.n / (warm + start_s):.0f} "
                          f"runs/s")
            m = min(args.n, 2000)
            run_ensemble(sets.iloc[:8], tmp / "warm-simlin", runner=runner, engine="simlin", batch_size=4, **kw)
            t1 = time.perf_counter()
            run_ensemble(sets.iloc[:m], tmp / "pool-simlin", runner=runner, engine="simlin", **kw)
            rates[f"ensemble runner, pool {args.workers} workers (pysimlin engine)"] = m / (time.perf_counter() - t1)
        pool_ind = res.indicators

        # Dask LocalCluster, 2 worker processes
        from distributed import Client, LocalCluster

        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=40) as cluster, Client(cluster) as client:
            dr = DaskRunner(client)
            run_ensemble(sets.iloc[:256], tmp / "dask-warm", runner=dr, engine="fast", batch_size=64, **kw)
            t1 = time.perf_counter()
            dres = run_ensemble(sets, tmp / "dask", runner=dr, engine="fast", **kw)
            key = f"ensemble runner, Dask LocalCluster {args.workers} workers"
            rates[key] = args.n / (time.perf_counter() - t1)
            same = np.allclose(dres.indicators.to_numpy(), pool_ind.to_numpy(), rtol=1e-12, atol=0, equal_nan=True)
            notes[key] = "same results as the pool" if same else "DIFFERENT results from the pool"

    print(f"\n{'path':<58} {'runs/s':>10}  notes")
    for name, rate in rates.items():
        print(f"{name:<58} {rate:10.1f}  {notes.get(name, '')}")
    print(f"\naccelerated PySD vs plain PySD on the same {min(args.plain, args.serial)} sets, every variable: "
          f"largest relative difference {diff:.1e}")
    ref = rates["plain PySD loop (pysd.load(...).run(params=...))"]
    fast_rate = rates[f"ensemble runner, pool {args.workers} workers (accelerated PySD)"]
    print(f"ensemble: fast={fast_rate:.1f} reference={ref:.2f} ratio={fast_rate / ref:.0f}")


if __name__ == "__main__":
    main()
