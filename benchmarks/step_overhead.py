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
import time

import torch

from deeprelax.experiments.models import build_model
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
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--evals", type=int, default=40, help="gradient evaluations per timing (a multiple of L)")
    parser.add_argument("--L", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    data = torch.rand(4096, 1, 28, 28, device=device)
    labels = torch.randint(0, 10, (4096,), device=device)
    loss_fn = torch.nn.CrossEntropyLoss()
    methods = make_methods(args.L)
    setups = {}
    for name, make in methods.items():
        model = build_model("mnistfc").to(device).train()
        opt = make(list(model.parameters()))
        noise = [torch.empty_like(p) for p in model.parameters()] if name == "sgd+randn" else None
        gen = torch.Generator(device=device).manual_seed(1)
        setups[name] = (model, opt, noise, gen)

    def time_method(name: str) -> float:
        model, opt, noise, gen = setups[name]
        idx_gen = torch.Generator(device="cpu").manual_seed(2)

        def closure():
            opt.zero_grad()
            idx = torch.randint(0, len(data), (128,), generator=idx_gen).to(device)
            loss = loss_fn(model(data[idx]), labels[idx])
            loss.backward()
            return loss

        evals_per_step = getattr(opt, "evals_per_step", 1)
        steps = max(1, args.evals // evals_per_step)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            opt.step(closure)
            if noise is not None:
                for z in noise:
                    z.normal_(generator=gen)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - start) / (steps * evals_per_step)

    for name in methods:  # warm-up
        time_method(name)
    per_round: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(args.rounds):
        for name in methods:
            per_round[name].append(time_method(name))

    def ratio(name: str, base: str) -> float:
        return statistics.median(a / b for a, b in zip(per_round[name], per_round[base]))

    print(f"device={device} threads={torch.get_num_threads()} L={args.L} rounds={args.rounds} "
          f"evals/timing={args.evals}")
    sgd_ms = statistics.median(per_round["sgd"]) * 1e3
    print(f"{'method':<22}{'ms/eval':>9}{'vs sgd':>9}{'vs floor':>10}   floor")
    for name in methods:
        ms = statistics.median(per_round[name]) * 1e3
        base = FLOOR.get(name, "sgd")
        print(f"{name:<22}{ms:9.2f}{ratio(name, 'sgd'):9.3f}{ratio(name, base):10.3f}   {base}")
    print(f"(sgd: {sgd_ms:.2f} ms per gradient evaluation)")


if __name__ == "__main__":
    main()
