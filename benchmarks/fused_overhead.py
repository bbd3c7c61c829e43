"""Time per gradient evaluation of the fused relaxation optimizers against torch's SGD, same run.

Each method trains a paper model (mnistfc: 1.87 M weights; lenet: 0.13 M) at batch 128 in train
mode on random MNIST-shaped data; methods are timed in alternation, round after round, and the
script prints the median over rounds of each method's time per gradient evaluation divided by a
baseline's in the same round.  Baselines:

* ``sgd-fused``: ``torch.optim.SGD(momentum=0.9, nesterov=True, fused=True)``, the strongest;
* ``sgd-foreach``: the same with ``foreach=True``;
* ``sgd-fused+randn``: ``sgd-fused`` plus one N(0, I) draw of the whole parameter vector per
  evaluation: the floor for the methods that draw Gaussian noise (Entropy-SGD's Langevin noise,
  Heat's points);
* ``fwd+bwd``: the closure alone (no optimizer), for the optimizer's share of a step:
  ``(t_method - t_fwd+bwd) / t_method``.

``--step-only`` times the optimizer alone: the closure returns a stored loss and leaves one
stored gradient in ``.grad`` (no forward or backward), so the ratios are those of the steps.
``--draw`` adds a second table: a noise draw inside the compiled update (inductor's RNG from a seed
and an offset, and the Philox draw of ``optim/_philox.py``) against the eager ``normal_`` draw that
the fused path uses, on the weights alone.  ``--kernel-noise`` adds the noisy methods with the
in-kernel Philox draw (``_fused_noise = "kernel"``) and prints, per gradient evaluation, their
time over the same method drawing with ``normal_``: below 1 favours the in-kernel draw.

Usage:  python benchmarks/fused_overhead.py [--model mnistfc|lenet] [--threads 1] [--rounds 9]
        [--evals 40] [--device cpu|cuda] [--eager] [--step-only] [--draw] [--kernel-noise]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from _timing import Timed, add_common_args, setup

from deeprelax.experiments.models import build_model
from deeprelax.optim import HJ, EntropySGD, Heat, ProxSGD, _philox

KERNEL_NOISE = " kernel-noise"


def kernel_noise(make):
    """The same constructor, the optimizer drawing its noise inside the compiled update."""

    def build(ps):
        opt = make(ps)
        opt._fused_noise = "kernel"
        return opt

    return build


def make_methods(L: int, eager: bool, kernel: bool = False):
    def sgd(**kw):
        return lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9, nesterov=True, **kw)

    methods = {
        "fwd+bwd": None,
        "sgd-fused": sgd(fused=True),
        "sgd-foreach": sgd(foreach=True),
        "sgd-fused+randn": sgd(fused=True),
    }
    modes = [True, False] if eager else [True]
    for fused in modes:
        tag = "" if fused else " eager"
        methods.update(
            {
                f"entropy-sgd(noise=0){tag}": lambda ps, f=fused: EntropySGD(
                    ps, lr=0.01, L=L, noise=0.0, fused=f
                ),
                f"prox-sgd{tag}": lambda ps, f=fused: ProxSGD(
                    ps, lr=0.01, L=L, inner_lr=0.01, fused=f
                ),
                f"hj{tag}": lambda ps, f=fused: HJ(ps, lr=0.01, L=L - 1, fused=f),
                f"entropy-sgd{tag}": lambda ps, f=fused: EntropySGD(
                    ps, lr=0.01, L=L, noise=1e-4, fused=f
                ),
                f"heat{tag}": lambda ps, f=fused: Heat(ps, lr=0.01, L=L - 1, gamma=1e6, fused=f),
            }
        )
    if kernel:
        for name in ("entropy-sgd", "heat"):
            methods[name + KERNEL_NOISE] = kernel_noise(methods[name])
    return methods


def floor_of(name: str) -> str:
    noisy = name.startswith("heat") or (name.startswith("entropy-sgd") and "noise=0" not in name)
    return "sgd-fused+randn" if noisy else "sgd-fused"


def draw_table(device: torch.device, rounds: int) -> None:
    """Fused noise (in-kernel RNG) against normal_ + the fused add, on 1.87 M float32 weights."""
    shapes = [tuple(p.shape) for p in build_model("mnistfc").parameters()]
    ys = [torch.zeros(s, device=device) for s in shapes]
    zs = [torch.empty_like(y) for y in ys]
    gen = torch.Generator(device=device).manual_seed(0)

    def add_(ys, zs, std):
        for y, z in zip(ys, zs):
            y.copy_(y + std * z)

    def draw_add_(ys, std):
        for y in ys:
            y.copy_(y + std * torch.randn_like(y))

    def philox_add_(ys, std, k0, k1, offsets):
        for y, offset in zip(ys, offsets):
            y.copy_(y + std * _philox.normal(y, k0, k1, offset))

    add_c, draw_c = torch.compile(add_, fullgraph=True), torch.compile(draw_add_, fullgraph=True)
    philox_c = torch.compile(philox_add_, fullgraph=True)
    std = torch.tensor(1e-3)
    k0, k1 = torch.tensor(_philox.split_seed(12345), dtype=torch.int64).unbind()
    starts = torch.tensor([0] + [y.numel() for y in ys[:-1]], dtype=torch.int64).cumsum(0)
    offsets = list(starts.unbind())
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def eager_draw():
        for z in zs:
            z.normal_(generator=gen)
        add_c(ys, zs, std)

    def fused_draw():
        draw_c(ys, std)

    def philox_draw():
        philox_c(ys, std, k0, k1, offsets)

    times = {"normal_ + fused add": [], "in-kernel randn": [], "in-kernel philox": []}
    fns = (eager_draw, fused_draw, philox_draw)
    for fn in fns:
        fn()
    for _ in range(rounds):
        for name, fn in zip(times, fns):
            sync()
            start = time.perf_counter()
            for _ in range(20):
                fn()
            sync()
            times[name].append((time.perf_counter() - start) / 20)
    base = times["normal_ + fused add"]
    for name, t in times.items():
        ratio = statistics.median(a / b for a, b in zip(t, base))
        print(f"{name:<22}{statistics.median(t) * 1e3:9.3f} ms{ratio:9.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mnistfc", choices=["mnistfc", "lenet"])
    add_common_args(parser, rounds=9)
    parser.add_argument(
        "--eager", action="store_true", help="also time the eager (fused=False) methods"
    )
    parser.add_argument("--step-only", action="store_true", help="time the optimizer step alone")
    parser.add_argument("--draw", action="store_true", help="also time an in-kernel noise draw")
    parser.add_argument(
        "--kernel-noise",
        action="store_true",
        help="also time the noisy methods with the in-kernel Philox draw",
    )
    args = parser.parse_args()
    device, data, labels = setup(args)
    methods = make_methods(args.L, args.eager, args.kernel_noise)
    setups = {
        name: Timed(args.model, make, device, data, labels, args.step_only, "randn" in name)
        for name, make in methods.items()
    }
    compile_start = time.perf_counter()
    for timed in setups.values():  # warm-up: the fused methods compile here
        timed.time(args.evals)
    warm = time.perf_counter() - compile_start
    per_round: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(args.rounds):
        for name, timed in setups.items():
            per_round[name].append(timed.time(args.evals)[0])

    def ratio(name: str, base: str) -> float:
        return statistics.median(a / b for a, b in zip(per_round[name], per_round[base]))

    def share(name: str) -> float:
        return statistics.median(1 - b / a for a, b in zip(per_round[name], per_round["fwd+bwd"]))

    print(
        f"model={args.model} device={device} threads={torch.get_num_threads()} L={args.L} "
        f"rounds={args.rounds} evals/timing={args.evals} warm-up (compiles)={warm:.0f}s"
        f"{' step only' if args.step_only else ''}"
    )
    print(
        f"{'method':<28}{'ms/eval':>9}{'vs fused':>10}{'vs foreach':>11}{'vs floor':>10}{'opt share':>11}   floor"
    )
    for name in methods:
        ms = statistics.median(per_round[name]) * 1e3
        if name == "fwd+bwd":
            print(f"{name:<28}{ms:9.2f}")
            continue
        base = floor_of(name)
        print(
            f"{name:<28}{ms:9.2f}{ratio(name, 'sgd-fused'):10.3f}{ratio(name, 'sgd-foreach'):11.3f}"
            f"{ratio(name, base):10.3f}{share(name):11.1%}   {base}"
        )
    if args.kernel_noise:
        print(
            "in-kernel Philox draw vs normal_, per gradient evaluation of the same fused method: "
            + ", ".join(
                f"{name} {ratio(name + KERNEL_NOISE, name):.3f}" for name in ("entropy-sgd", "heat")
            )
        )
    if args.draw:
        print("noise draw + add on mnistfc's weights (ratio to normal_ + fused add)")
        draw_table(device, args.rounds)


if __name__ == "__main__":
    main()
