"""The memory-traffic floor of the fused updates, measured against the measured ratios, same run.

For a paper model at batch 128 (random MNIST-shaped data, train mode), in interleaved rounds:

* ``fwd+bwd``: the closure alone (forward, backward), F;
* each method's *full* step per gradient evaluation (closure included), fused SGD's among them;
* each optimizer's update *alone* per gradient evaluation (``step-only``: a stored loss and
  gradient, no forward/backward), torch's fused SGD step S among them;
* a *traffic kernel* per elementwise pass of the fused updates: a ``torch.compile``'d function over
  the model's float32 parameter shapes that reads R tensors and writes W (A of the writes in place
  into tensors it read, as the real pass does), doing one add per read; and ``normal_`` of the whole
  parameter vector (the noise draw).

The passes of each method per outer step (:data:`PASSES`) are counted from ``optim/_fused.py``
(the kernels' reads and writes at the benchmark's settings, float32 parameters).  From one round:

* traffic floor of a method's ratio = (F + T_method) / (F + S), with T_method the sum of the traffic
  kernels of its passes per outer step divided by its evaluations per step (plus the noise draws),
  and S torch's fused SGD step (for the noisy methods both sides also pay one ``normal_``);
* the same with the (3, 2, 2) traffic kernel in place of S (inductor's loop against inductor's);
* the measured ratio: the method's full step / fused SGD's full step (/ fused SGD + ``normal_``);
* the optimizer's share: 1 - F / t_method.

Every figure is the median over rounds of the per-round value.

Usage:  python benchmarks/fused_floor.py [--model mnistfc|lenet] [--threads 1] [--rounds 7]
        [--evals 40] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import types

import torch
from _timing import Timed, add_common_args, setup, sync

from deeprelax.experiments.models import build_model
from deeprelax.optim import HJ, EntropySGD, Heat, ProxSGD

# (reads, writes, writes in place into a tensor read) of each pass; "randn" is one normal_.
SGD_STEP = (3, 2, 2)  # p, g, buf -> p, buf
START = (1, 1, 0)  # the engine's anchor copy x <- p at evaluation 0
APPLY = (3, 2, 2)  # outer step: D, buf, x -> buf, x


def _entropy(L: int, mom: bool, noisy: bool) -> list:
    n = int(noisy)
    if mom:  # y, g, x(, z) -> b, mu, y  |  y, g, x, b, mu(, z) -> b, mu, y
        first, inner = (3 + n, 3, 1), (5 + n, 3, 3)
    else:  # y, g, x(, z) -> mu, y  |  y, g, x, mu(, z) -> mu, y
        first, inner = (3 + n, 2, 1), (4 + n, 2, 2)
    draws = ["randn"] * L if noisy else []
    return [START, first, *[inner] * (L - 1), (2, 1, 1), APPLY, *draws]  # D = x - mu into mu


def _prox(L: int) -> list:  # alpha = 1: mu <- y, the old mean unread
    return [START, (2, 3, 1), *[(4, 3, 2)] * (L - 1), (2, 1, 1), APPLY]


def _hj(L: int) -> list:  # L + 1 evaluations; the last does not move; D = p read for isfinite
    return [START, (2, 2, 0), *[(3, 2, 1)] * (L - 1), (2, 1, 1), (1, 0, 0), APPLY]


def _heat(L: int) -> list:  # y <- std * z + x (z drawn into y); G <- G + g from evaluation 1 on
    moves = [(2, 1, 1), (3, 2, 1), *[(4, 2, 2)] * (L - 2)] if L >= 2 else [(2, 1, 1)] * L
    return [START, *moves, (2, 1, 1), (1, 1, 1), APPLY, *["randn"] * L]


def methods(L: int) -> dict:
    """name: (constructor, evaluations per step, passes per step, noisy)."""
    return {
        "sgd-fused": (
            lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9, nesterov=True, fused=True),
            1,
            [SGD_STEP],
            False,
        ),
        "entropy-sgd(noise=0)": (
            lambda ps: EntropySGD(ps, lr=0.01, L=L, noise=0.0, fused=True),
            L,
            _entropy(L, True, False),
            False,
        ),
        "entropy-sgd(noise=0,inner_mom=0)": (
            lambda ps: EntropySGD(ps, lr=0.01, L=L, noise=0.0, inner_momentum=0.0, fused=True),
            L,
            _entropy(L, False, False),
            False,
        ),
        "prox-sgd": (
            lambda ps: ProxSGD(ps, lr=0.01, L=L, inner_lr=0.01, fused=True),
            L,
            _prox(L),
            False,
        ),
        "hj": (lambda ps: HJ(ps, lr=0.01, L=L - 1, fused=True), L, _hj(L - 1), False),
        "entropy-sgd(noise=1e-4)": (
            lambda ps: EntropySGD(ps, lr=0.01, L=L, noise=1e-4, fused=True),
            L,
            _entropy(L, True, True),
            True,
        ),
        "heat": (
            lambda ps: Heat(ps, lr=0.01, L=L - 1, gamma=1e6, fused=True),
            L,
            _heat(L - 1),
            True,
        ),
    }


def streams_per_eval(passes: list, n: int) -> tuple[float, float]:
    kernels = [p for p in passes if p != "randn"]
    return sum(r for r, _, _ in kernels) / n, sum(w for _, w, _ in kernels) / n


def traffic_kernel(reads: int, writes: int, in_place: int):
    """A compiled pass reading ``reads`` lists and writing ``writes`` (``in_place`` into read ones)."""

    def kernel(lists, w, cs):
        out = []
        for i in range(len(lists[0])):
            s = lists[0][i]
            for j in range(1, reads):
                s = s + lists[j][i]
            if writes == 0:
                out.append(s.sum())
            for k in range(writes):
                target = lists[k][i] if k < in_place else lists[reads + k - in_place][i]
                target.copy_(s * w + cs[k])
        return torch.stack(out).sum() if writes == 0 else None

    # a code object of its own: dynamo's recompile limit counts per code object
    own = types.FunctionType(
        kernel.__code__.replace(), kernel.__globals__, "kernel", None, kernel.__closure__
    )
    return torch.compile(own, fullgraph=True, options={"size_asserts": False})


class Kernels:
    """The traffic kernels and normal_ on float32 tensors of the model's parameter shapes."""

    def __init__(self, model_name: str, device: torch.device, shapes: set):
        gen = torch.Generator().manual_seed(3)
        self.shapes = [tuple(p.shape) for p in build_model(model_name).parameters()]
        self.device = device
        self.pool = [
            [torch.randn(s, generator=gen).to(device) for s in self.shapes] for _ in range(9)
        ]
        self.kernels = {key: traffic_kernel(*key) for key in shapes}
        self.w = torch.tensor(0.2)
        self.cs = torch.tensor([1e-3, 2e-3, 3e-3]).unbind()
        self.gen = torch.Generator(device=device).manual_seed(4)

    def run(self, key) -> None:
        if key == "randn":
            for z in self.pool[8]:
                z.normal_(generator=self.gen)
            return
        reads, writes, in_place = key
        self.kernels[key](self.pool[: reads + writes - in_place], self.w, self.cs)

    def time(self, key, repeats: int = 40) -> tuple[float, float]:
        sync(self.device)
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(repeats):
            self.run(key)
        sync(self.device)
        return (time.perf_counter() - start) / repeats, (time.process_time() - cpu) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mnistfc", choices=["mnistfc", "lenet"])
    add_common_args(parser, rounds=7)
    args = parser.parse_args()
    load0 = os.getloadavg()
    device, data, labels = setup(args)
    table = methods(args.L)
    keys = {p for _, _, passes, _ in table.values() for p in passes if p != "randn"}
    kern = Kernels(args.model, device, keys)
    full = {
        "fwd+bwd": Timed(args.model, None, device, data, labels),
        "sgd-fused+randn": Timed(
            args.model, table["sgd-fused"][0], device, data, labels, randn=True
        ),
    }
    full.update(
        {
            name: Timed(args.model, make, device, data, labels)
            for name, (make, _, _, _) in table.items()
        }
    )
    alone = {
        name: Timed(args.model, make, device, data, labels, step_only=True)
        for name, (make, _, _, _) in table.items()
    }
    start = time.perf_counter()
    for t in [*full.values(), *alone.values()]:  # warm-up: the fused updates compile here
        t.time(args.evals)
    for key in [*keys, "randn"]:
        kern.time(key, 1)
    warm = time.perf_counter() - start
    recs: tuple[dict, dict] = ({}, {})  # wall clock, process CPU time

    def record(name: str, times: tuple[float, float]) -> None:
        for rec, t in zip(recs, times):
            rec.setdefault(name, []).append(t)

    for _ in range(args.rounds):
        for name, t in full.items():
            record(f"full {name}", t.time(args.evals))
        for name, t in alone.items():
            record(f"alone {name}", t.time(args.evals))
        for key in [*sorted(keys), "randn"]:
            record(f"kernel {key}", kern.time(key, args.evals))
    load1 = os.getloadavg()
    numel = sum(p.numel() for p in full["fwd+bwd"].model.parameters())
    print(
        f"model={args.model} ({numel:,} weights) device={args.device} threads={torch.get_num_threads()} "
        f"L={args.L} rounds={args.rounds} evals/timing={args.evals} warm-up={warm:.0f}s "
        f"load average (1/5/15 min) at start {load0[0]:.2f}/{load0[1]:.2f}/{load0[2]:.2f}, "
        f"at end {load1[0]:.2f}/{load1[1]:.2f}/{load1[2]:.2f}"
    )
    for clock, rec in zip(("wall clock", "process CPU time (all threads)"), recs):
        print(f"-- {clock}")
        report(args, table, rec)


def report(args, table, rec) -> None:
    rounds = range(args.rounds)
    med = statistics.median

    F = rec["full fwd+bwd"]
    S = rec["alone sgd-fused"]
    K = {key[7:]: v for key, v in rec.items() if key.startswith("kernel ")}
    randn = K["randn"]
    print(
        f"fwd+bwd {med(F) * 1e3:.2f} ms; torch fused SGD step alone {med(S) * 1e3:.3f} ms; "
        f"traffic kernel (3,2,2) {med(K[str(SGD_STEP)]) * 1e3:.3f} ms; normal_ {med(randn) * 1e3:.3f} ms"
    )
    print(
        "traffic kernels (reads, writes, in place): ms  "
        + "  ".join(f"{k}: {med(v) * 1e3:.3f}" for k, v in sorted(K.items()) if k != "randn")
    )
    print(
        f"{'method':<34}{'R/eval':>7}{'W/eval':>7}{'alone ms':>9}{'alone/S':>8}{'traffic ms':>11}"
        f"{'opt share':>10}{'floor':>7}{'floor(K)':>9}{'from alone':>11}{'measured':>9}"
    )
    for name, (_, n, passes, noisy) in table.items():
        reads, writes = streams_per_eval(passes, n)
        A, M = rec[f"alone {name}"], rec[f"full {name}"]
        base = rec["full sgd-fused+randn"] if noisy else rec["full sgd-fused"]
        T = [sum(K[str(p)][r] if p != "randn" else randn[r] for p in passes) / n for r in rounds]
        X = [randn[r] if noisy else 0.0 for r in rounds]  # the draw both sides pay
        floor = med((F[r] + T[r]) / (F[r] + S[r] + X[r]) for r in rounds)
        floor_k = med((F[r] + T[r]) / (F[r] + K[str(SGD_STEP)][r] + X[r]) for r in rounds)
        from_alone = med((F[r] + A[r]) / (F[r] + S[r] + X[r]) for r in rounds)
        measured = med(M[r] / base[r] for r in rounds)
        share = med(1 - F[r] / M[r] for r in rounds)
        print(
            f"{name:<34}{reads:7.2f}{writes:7.2f}{med(A) * 1e3:9.3f}{med(A[r] / S[r] for r in rounds):8.3f}"
            f"{med(T) * 1e3:11.3f}{share:10.1%}{floor:7.3f}{floor_k:9.3f}{from_alone:11.3f}"
            f"{measured:9.3f}"
        )
    print(
        "floor: (F + traffic) / (F + S [+ normal_]); floor(K): the same over the (3,2,2) kernel; "
        "from alone: (F + step alone) / (F + S [+ normal_]); measured: full step / fused SGD's "
        "[+ normal_]; all medians of per-round values"
    )


if __name__ == "__main__":
    main()
