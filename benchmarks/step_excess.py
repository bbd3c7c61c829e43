"""Where a relaxed optimizer's full step spends more than the closure plus its update timed alone.

On mnistfc a fused relaxed step costs 2-10 % more than F (forward + backward alone) plus the
update timed alone (``fused_floor.py``).  This benchmark splits that excess, per gradient
evaluation, for each of ``fused_floor.py``'s methods (fused, float32, batch 128), in interleaved
rounds:

* ``F``: the closure alone; ``M``: the full step; ``A``: the update alone (a stored gradient);
* inside ``M``: ``Fin``, the time spent in the closure, and ``Uin = M - Fin``, the optimizer's own
  time around it (the inner-loop engine and the fused update, in situ);
* ``excess = M - F - A = (Fin - F) + (Uin - A)``: the closure part and the update part;
* ``flt``: the minor page faults per evaluation during ``M`` (fresh pages the allocator took from
  the kernel and the first touch filled).

It runs the measurement twice, each in a child process: with glibc's malloc as it comes (its mmap
and trim thresholds adapt at run time, so freed memory can go back to the kernel and be faulted in
again), and with both thresholds pinned at 4 GiB (``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_TRIM_THRESHOLD_``: freed memory stays in the process).  Figures are medians over rounds
of per-round values, ms per gradient evaluation, wall clock and process CPU time.

Usage:  python benchmarks/step_excess.py [--model mnistfc|lenet] [--threads 1] [--rounds 5]
        [--evals 40] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

import torch
from _timing import Timed, add_common_args, setup
from fused_floor import methods

PINNED = {"MALLOC_MMAP_THRESHOLD_": str(4 << 30), "MALLOC_TRIM_THRESHOLD_": str(4 << 30)}
MALLOC = {"as it comes": {}, "pinned at 4 GiB": PINNED}


def measure(args: argparse.Namespace) -> dict:
    """In this process: per-round figures of every method (the child's work)."""
    device, data, labels = setup(args)
    table = {k: v for k, v in methods(args.L).items() if not args.only or k in args.only}
    bare = Timed(args.model, None, device, data, labels)
    full = {k: Timed(args.model, v[0], device, data, labels, split=True) for k, v in table.items()}
    alone = {
        k: Timed(args.model, v[0], device, data, labels, step_only=True) for k, v in table.items()
    }
    for t in [bare, *full.values(), *alone.values()]:  # warm-up: the fused updates compile here
        t.time(args.evals)
    rec: dict[str, list] = {}
    for _ in range(args.rounds):
        rec.setdefault("F", []).append(bare.time(args.evals))
        for name in table:
            rec.setdefault(f"M {name}", []).append(full[name].time(args.evals))
            rec.setdefault(f"Fin {name}", []).append(full[name].inside)
            rec.setdefault(f"flt {name}", []).append(full[name].minflt)
            rec.setdefault(f"A {name}", []).append(alone[name].time(args.evals))
    rec["threads"] = torch.get_num_threads()
    return rec


def report(rec: dict, clock: int) -> None:
    med = statistics.median
    F = [r[clock] for r in rec["F"]]
    print(
        f"{'method':<34}{'F':>7}{'M':>8}{'A':>7}{'Fin':>8}{'Uin':>7}{'excess':>8}"
        f"{'closure':>8}{'update':>7}{'% of M':>7}{'flt':>6}"
    )
    names = [k[2:] for k in rec if k.startswith("M ")]
    for name in names:
        M = [r[clock] for r in rec[f"M {name}"]]
        A = [r[clock] for r in rec[f"A {name}"]]
        Fin = [r[clock] for r in rec[f"Fin {name}"]]
        rounds = range(len(M))
        ex = [M[r] - F[r] - A[r] for r in rounds]
        cl = [Fin[r] - F[r] for r in rounds]
        up = [M[r] - Fin[r] - A[r] for r in rounds]
        ms = [med(v) * 1e3 for v in (F, M, A, Fin, [M[r] - Fin[r] for r in rounds], ex, cl, up)]
        share = med(ex[r] / M[r] for r in rounds)
        print(
            f"{name:<34}{ms[0]:7.2f}{ms[1]:8.2f}{ms[2]:7.3f}{ms[3]:8.2f}{ms[4]:7.3f}"
            f"{ms[5]:8.3f}{ms[6]:8.3f}{ms[7]:7.3f}{share:7.1%}{med(rec[f'flt {name}']):6.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mnistfc", choices=["mnistfc", "lenet"])
    parser.add_argument("--only", nargs="*", default=None, help="methods to time (default: all)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    add_common_args(parser, rounds=5)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args)))
        return
    load0 = os.getloadavg()
    print(
        f"model={args.model} L={args.L} rounds={args.rounds} evals/timing={args.evals}; "
        "ms per gradient evaluation, medians of per-round values"
    )
    for label, env in MALLOC.items():
        out = subprocess.run(
            [sys.executable, __file__, *sys.argv[1:], "--child"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode:
            sys.exit(f"step_excess.py: the child ({label}) failed: {out.stderr.strip()[-500:]}")
        rec = json.loads(out.stdout.strip().splitlines()[-1])
        for clock, name in enumerate(("wall clock", "process CPU time")):
            print(f"-- malloc {label}, threads={rec['threads']}, {name}")
            report(rec, clock)
    load1 = os.getloadavg()
    print(
        f"load average (1/5/15 min) at start {load0[0]:.2f}/{load0[1]:.2f}/{load0[2]:.2f}, "
        f"at end {load1[0]:.2f}/{load1[1]:.2f}/{load1[2]:.2f}"
    )
    print(
        "excess = M - F - A = closure (Fin - F) + update (M - Fin - A); flt: minor page faults "
        "per evaluation during M"
    )


if __name__ == "__main__":
    main()
