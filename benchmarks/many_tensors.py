"""The optimizer's per-evaluation cost as the number of parameter tensors grows.

A transformer hands its optimizer hundreds of tensors, most of them small; then the per-tensor
Python and dispatch cost, not the arithmetic, sets an optimizer's price.  Here each optimizer
updates N float32 tensors of 64 entries from a stored gradient (no forward or backward), for
N in --sizes, timed per gradient evaluation in interleaved rounds (process CPU time, median of
the rounds), against torch.optim.SGD (momentum 0.9, Nesterov) with foreach and with
``fused=True`` in the same run.  It also counts the Python function calls per evaluation of each
relaxed method over one outer step (cProfile: deterministic, unlike the timings).

Usage:  python benchmarks/many_tensors.py [--sizes 10 100 400] [--rounds 5] [--evals 200]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time

import torch

from deeprelax.optim import HJ, EntropySGD, Heat, ProxSGD

L = 20


def methods() -> dict:
    sgd = dict(lr=0.01, momentum=0.9, nesterov=True)
    table = {
        "sgd foreach": lambda ps: torch.optim.SGD(ps, **sgd, foreach=True),
        "sgd fused": lambda ps: torch.optim.SGD(ps, **sgd, fused=True),
    }
    for fused in (False, True):
        tag = "fused" if fused else "eager"
        table[f"entropy-sgd(noise=0) {tag}"] = lambda ps, f=fused: EntropySGD(
            ps, lr=0.01, L=L, noise=0.0, fused=f
        )
        table[f"prox-sgd {tag}"] = lambda ps, f=fused: ProxSGD(ps, lr=0.01, L=L, fused=f)
        table[f"hj {tag}"] = lambda ps, f=fused: HJ(ps, lr=0.01, L=L - 1, fused=f)
        table[f"heat {tag}"] = lambda ps, f=fused: Heat(ps, lr=0.01, L=L - 1, gamma=1e6, fused=f)
    return table


class Setup:
    def __init__(self, make, n: int):
        gen = torch.Generator().manual_seed(0)
        self.params = [torch.nn.Parameter(torch.randn(64, generator=gen)) for _ in range(n)]
        for p in self.params:
            p.grad = torch.randn(64, generator=gen)
        self.opt = make(self.params)
        self.loss = torch.tensor(1.0)
        self.per_step = getattr(self.opt, "evals_per_step", 1)

    def closure(self):
        return self.loss

    def time(self, evals: int) -> float:
        steps = max(1, evals // self.per_step)
        start = time.process_time()
        for _ in range(steps):
            self.opt.step(self.closure)
        return (time.process_time() - start) / (steps * self.per_step)

    def calls(self) -> float:
        """Python function calls per evaluation over one outer step."""
        prof = cProfile.Profile()
        prof.enable()
        self.opt.step(self.closure)
        prof.disable()
        return pstats.Stats(prof).total_calls / self.per_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 400])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--evals", type=int, default=200, help="evaluations per timing")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    table = methods()
    print(
        f"torch {torch.__version__}, threads={torch.get_num_threads()}, L={L}, rounds={args.rounds}, "
        f"evals/timing={args.evals}; N float32 tensors of 64 entries, stored gradients"
    )
    for n in args.sizes:
        setups = {name: Setup(make, n) for name, make in table.items()}
        for s in setups.values():  # warm-up: the fused updates compile here
            s.time(args.evals)
        rec: dict[str, list[float]] = {name: [] for name in setups}
        for _ in range(args.rounds):
            for name, s in setups.items():
                rec[name].append(s.time(args.evals))
        calls = {name: s.calls() for name, s in setups.items() if not name.startswith("sgd")}
        print(f"-- N = {n} tensors")
        print(
            f"{'optimizer':<28}{'us/eval':>9}{'us/tensor':>10}{'vs fused SGD':>13}"
            f"{'vs foreach SGD':>15}{'py calls/eval':>14}"
        )
        for name, times in rec.items():
            ratio_f = statistics.median(a / b for a, b in zip(times, rec["sgd fused"]))
            ratio_e = statistics.median(a / b for a, b in zip(times, rec["sgd foreach"]))
            us = statistics.median(times) * 1e6
            c = f"{calls[name]:14.0f}" if name in calls else f"{'':>14}"
            print(f"{name:<28}{us:9.1f}{us / n:10.2f}{ratio_f:13.2f}{ratio_e:15.2f}{c}")


if __name__ == "__main__":
    main()
