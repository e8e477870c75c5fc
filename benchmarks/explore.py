"""Slider to updated charts in the policy explorer, measured in a real browser (headless Chromium).

Usage: ``python benchmarks/explore.py [--moves N] [--city C]``. Starts the explorer's server on a free
loopback port, opens the page in headless Chromium (Debian's ``chromium`` and ``chromium-driver``, driven by
Selenium; nothing is downloaded), and moves the policy levers one at a time, as a user does, waiting for each
update. A move's latency is measured in the page, from the slider's ``input`` event to the first paint after
the charts, the co-control plane and the tables are redrawn (``requestAnimationFrame``, then a task): it holds
the request, the model run (the ``fast`` engine), the indicators and co-control computations, the JSON and the
SVG drawing. Then a burst of rapid moves shows the coalescing (fewer runs than moves).

Prints a table and, as its last line, ``explore: median_ms=X p95_ms=Y``. Timings on a shared machine are
noisy; run it on a quiet one.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import threading
import time

import numpy as np

MOVES_JS = """
const [moves, warmup, done] = [arguments[0], arguments[1], arguments[arguments.length - 1]];
(async () => {
  const st = window.exploreStats;
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const idle = async () => { while (st.busy) await sleep(1); };
  const sliders = Array.from(document.querySelectorAll('#levers .lever input[type=range]'))
    .filter((r) => /target$/.test(r.dataset.name));
  const fractions = [0.3, 0.8, 0.55, 1.0, 0.15];
  await idle();
  const n0 = st.latencies.length;
  for (let i = 0; i < warmup + moves; i++) {
    const r = sliders[i % sliders.length];
    const lo = parseFloat(r.min), hi = parseFloat(r.max), step = parseFloat(r.step);
    const f = fractions[Math.floor(i / sliders.length) % fractions.length];
    r.value = Math.round((lo + f * (hi - lo)) / step) * step;
    const before = st.latencies.length, errors = st.errors;
    r.dispatchEvent(new Event('input', {bubbles: true}));
    while (st.latencies.length === before && st.errors === errors) await sleep(1);
    await idle();
    await sleep(40);  // a user's pause between moves
  }
  done({latencies: st.latencies.slice(n0 + warmup), model: st.modelMs.slice(n0 + warmup), errors: st.errors,
        sliders: sliders.length});
})();
"""

BURST_JS = """
const [count, gap, done] = [arguments[0], arguments[1], arguments[arguments.length - 1]];
(async () => {
  const st = window.exploreStats;
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  while (st.busy) await sleep(1);
  const r = document.querySelector('#levers input[type=range][data-name="carbon price target"]');
  const runs0 = st.runs, sup0 = st.superseded;
  const t0 = performance.now();
  let tLast = t0;
  for (let i = 1; i <= count; i++) {
    r.value = 20 * i;
    r.dispatchEvent(new Event('input', {bubbles: true}));
    tLast = performance.now();
    await sleep(gap);
  }
  while (st.busy) await sleep(1);
  const shown = document.querySelector('#levers input[type=number][data-name="carbon price target"]').value;
  done({moves: count, runs: st.runs - runs0, superseded: st.superseded - sup0, settle_ms: performance.now() - tLast,
        total_ms: performance.now() - t0, value: shown});
})();
"""


def _driver():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not (chromium and driver_path):
        sys.exit("explore: no browser; install Debian's chromium and chromium-driver "
                 "(apt-get install -y chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,1100"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=driver_path), options=opts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--moves", type=int, default=60, help="measured moves (default: %(default)s)")
    ap.add_argument("--warmup", type=int, default=5, help="moves before measuring (default: %(default)s)")
    ap.add_argument("--city", default="shanghai")
    args = ap.parse_args()

    from megacity_sd.explore import make_server

    srv = make_server("127.0.0.1", 0, city=args.city)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    driver = _driver()
    try:
        driver.set_script_timeout(600)
        driver.get(srv.url + f"?city={args.city}")
        deadline = time.time() + 60
        while not driver.execute_script("return window.exploreStats && window.exploreStats.runs >= 1"):
            if time.time() > deadline:
                sys.exit("explore: the page did not load")
            time.sleep(0.05)
        res = driver.execute_async_script(MOVES_JS, args.moves, args.warmup)
        burst = driver.execute_async_script(BURST_JS, 40, 10)
    finally:
        driver.quit()
        srv.shutdown()
        srv.server_close()
    lat = np.asarray(res["latencies"], dtype=float)
    model = np.asarray(res["model"], dtype=float)
    print(f"explorer, {args.city}: {len(lat)} moves over {res['sliders']} lever targets (after {args.warmup} "
          f"warm-up moves), one at a time; errors: {res['errors']}")
    print(f"{'':<34}{'median':>10}{'p95':>10}{'max':>10}")
    print(f"{'slider to updated charts (ms)':<34}{np.median(lat):>10.1f}{np.percentile(lat, 95):>10.1f}"
          f"{lat.max():>10.1f}")
    print(f"{'  of which the model run (ms)':<34}{np.median(model):>10.1f}{np.percentile(model, 95):>10.1f}"
          f"{model.max():>10.1f}")
    print(f"burst: {burst['moves']} moves 10 ms apart -> {burst['runs']} runs ({burst['superseded']} superseded); "
          f"last move to its charts {burst['settle_ms']:.0f} ms; the page shows {burst['value']} "
          f"(the last move: {20 * burst['moves']})")
    print(f"explore: median_ms={statistics.median(lat.tolist()):.1f} p95_ms={np.percentile(lat, 95):.1f}")


if __name__ == "__main__":
    main()
