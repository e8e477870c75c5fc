"""CPU time, wall time and peak memory of the commands a user types, each run as the installed ``megacity-sd``.

Usage: ``python benchmarks/speed.py [--repeat N] [--cold] [--only NAME ...]``. Every command runs as a
subprocess in a temporary working folder, its outputs in a temporary folder (nothing in the repository is
rewritten), with its own model cache (``MEGACITY_SD_CACHE``): by default a temporary cache filled once by an
untimed ``megacity-sd run --scenario baseline --no-figures`` and ``megacity-sd explain "CO2 emissions" --depth 0``
(a user's second use: the model's declarations, its PySD translation and the loops of the default city are
cached); with ``--cold`` an empty cache for every command (a user's first use: the command parses and translates
the model itself).

CPU time is the child's user + system time and peak memory its largest resident set (``os.wait4``, which
counts the child and the processes it waited for). With ``--repeat N`` each command runs N times and the run
with the least CPU time is shown. Prints a table (command, CPU s, wall s, peak MB, target, met) and, as its
last line, ``speed: <name>=<cpu s>/<peak MB> ... met=<k>/<n>``. Timings on a shared machine are noisy;
the targets are for the 2-core review machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Command:
    """One command: a short name (``help`` is ``megacity-sd --help``), its arguments (``{out}``: its output
    folder) and its target."""

    name: str
    args: tuple[str, ...]
    max_cpu: float | None = None  # seconds of CPU (user + system)
    max_mb: float | None = None  # megabytes of peak resident memory

    def target(self) -> str:
        parts = ([f"CPU < {self.max_cpu:g} s"] if self.max_cpu is not None else []) + (
            [f"peak < {self.max_mb:g} MB"] if self.max_mb is not None else [])
        return ", ".join(parts)

    def met(self, cpu: float, mb: float) -> bool:
        return (self.max_cpu is None or cpu < self.max_cpu) and (self.max_mb is None or mb < self.max_mb)


COMMANDS = (
    Command("help", ("--help",), max_cpu=1.0),
    Command("scenarios", ("scenarios",), max_cpu=1.0),
    Command("explain", ("explain", "CO2 emissions", "--depth", "2"), max_cpu=1.0),
    Command("run", ("run", "--out", "{out}/output", "--figures", "{out}/figures"), max_cpu=5.0),
    Command("diagrams", ("diagrams", "--out", "{out}/diagrams"), max_mb=500.0),
)


@dataclass(frozen=True)
class Measure:
    cpu: float
    wall: float
    peak_mb: float


def executable() -> str:
    """The installed ``megacity-sd`` console script: beside this Python, else on PATH."""
    beside = Path(sys.executable).parent / "megacity-sd"
    found = str(beside) if beside.is_file() else shutil.which("megacity-sd")
    if not found:
        raise SystemExit("speed.py: no 'megacity-sd' installed (pip install -e .)")
    return found


def measure(exe: str, args: list[str], cwd: Path, env: dict[str, str]) -> Measure:
    """Run ``exe args`` in ``cwd``; its CPU time, wall time and peak RSS (raises on a non-zero exit)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([exe, *args], cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # wait4 reads the exit status and the child's own resource usage together (no other child mixes in)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"speed.py: megacity-sd {' '.join(args)} exited {proc.returncode}:\n{err}")
    return Measure(usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss / 1024)  # ru_maxrss: KiB on Linux


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=1, help="runs of each command; the least CPU time is shown")
    ap.add_argument("--cold", action="store_true", help="an empty model cache for every command (first use)")
    ap.add_argument("--only", nargs="+", choices=[c.name for c in COMMANDS], help="only these commands")
    args = ap.parse_args()
    exe = executable()
    commands = [c for c in COMMANDS if not args.only or c.name in args.only]
    rows = []
    with tempfile.TemporaryDirectory(prefix="megacity-sd-speed-") as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "MPLBACKEND": "Agg", "MEGACITY_SD_CACHE": str(tmp / "cache")}
        if not args.cold:
            work = tmp / "warmup"
            work.mkdir()
            for warm in (["run", "--scenario", "baseline", "--no-figures", "--out", str(work / "output")],
                         ["explain", "CO2 emissions", "--depth", "0"]):
                measure(exe, warm, work, env)
        for i, cmd in enumerate(commands):
            best = None
            for k in range(args.repeat):
                work = tmp / f"{i}-{k}"
                work.mkdir()
                if args.cold:
                    env = {**env, "MEGACITY_SD_CACHE": str(work / "cache")}
                m = measure(exe, [a.replace("{out}", str(work / "out")) for a in cmd.args], work, env)
                best = m if best is None or m.cpu < best.cpu else best
            rows.append((cmd, best))
            print(f"  {cmd.name}: {best.cpu:.2f} s CPU", file=sys.stderr, flush=True)
    print(f"megacity-sd commands ({'cold: empty model cache each' if args.cold else 'warm model cache'}; "
          f"least CPU of {args.repeat} run(s))")
    print(f"{'command':<12} {'CPU s':>8} {'wall s':>8} {'peak MB':>9}  {'target':<16} met")
    for cmd, m in rows:
        print(f"{cmd.name:<12} {m.cpu:8.2f} {m.wall:8.2f} {m.peak_mb:9.0f}  {cmd.target():<16} "
              f"{'yes' if cmd.met(m.cpu, m.peak_mb) else 'no'}")
    met = sum(cmd.met(m.cpu, m.peak_mb) for cmd, m in rows)
    print("speed: " + " ".join(f"{cmd.name}={m.cpu:.2f}s/{m.peak_mb:.0f}MB" for cmd, m in rows)
          + f" met={met}/{len(rows)}")


if __name__ == "__main__":
    main()
