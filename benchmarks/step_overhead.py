"""Time per gradient evaluation of the relaxation optimizers against torch.optim.SGD.

Each method trains the paper's mnistfc (1.87 M parameters, batch 128, train mode) on random
MNIST-shaped data.  Methods are timed in alternation, round after round, so that the machine's
drift hits all of them alike; the script prints the median over rounds of each method's time per
gradient evaluation divided by SGD's in the same round.  Two baselines:

* ``sgd``: torch.optim.SGD(momentum=0.9, nesterov=True), one gradient evaluation per step;
* ``sgd+randn``: the same plus one N(0, I) draw of the whole parameter vector per evaluation,
  the floor for methods that draw Gaussian noise (EntropySGD's Langevin noise, Heat's points).

Usage:  python benchmarks/step_overhead.py [--rounds 7] [--evals 40] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import statistics

import torch
from _timing import Timed, add_common_args, setup

from deeprelax.optim import HJ, EntropySGD, Heat, ProxSGD


def make_methods(L: int):
    return {
        "sgd": lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9, nesterov=True),
        "sgd+randn": lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9, nesterov=True),
        "entropy-sgd(noise=0)": lambda ps: EntropySGD(ps, lr=0.01, L=L, noise=0.0),
        "hj": lambda ps: HJ(ps, lr=0.01, L=L - 1),  # L + 1 = 20 evaluations per step
        "prox-sgd": lambda ps: ProxSGD(ps, lr=0.01, L=L, inner_lr=0.01),
        "entropy-sgd": lambda ps: EntropySGD(ps, lr=0.01, L=L, noise=1e-4),
        "heat": lambda ps: Heat(ps, lr=0.01, L=L - 1, gamma=1e6),
    }


FLOOR = {"entropy-sgd": "sgd+randn", "heat": "sgd+randn"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser, rounds=7)
    args = parser.parse_args()
    device, data, labels = setup(args)
    methods = make_methods(args.L)
    setups = {
        name: Timed("mnistfc", make, device, data, labels, randn=name == "sgd+randn")
        for name, make in methods.items()
    }

    def time_method(name: str) -> float:
        return setups[name].time(args.evals)[0]

    for name in methods:  # warm-up
        time_method(name)
    per_round: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(args.rounds):
        for name in methods:
            per_round[name].append(time_method(name))

    def ratio(name: str, base: str) -> float:
        return statistics.median(a / b for a, b in zip(per_round[name], per_round[base]))

    print(
        f"device={device} threads={torch.get_num_threads()} L={args.L} rounds={args.rounds} "
        f"evals/timing={args.evals}"
    )
    sgd_ms = statistics.median(per_round["sgd"]) * 1e3
    print(f"{'method':<22}{'ms/eval':>9}{'vs sgd':>9}{'vs floor':>10}   floor")
    for name in methods:
        ms = statistics.median(per_round[name]) * 1e3
        base = FLOOR.get(name, "sgd")
        print(f"{name:<22}{ms:9.2f}{ratio(name, 'sgd'):9.3f}{ratio(name, base):10.3f}   {base}")
    print(f"(sgd: {sgd_ms:.2f} ms per gradient evaluation)")


if __name__ == "__main__":
    main()
