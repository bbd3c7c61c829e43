"""Cost of Hessian diagnostics on mnistfc (1,867,786 parameters) over 1,000 MNIST images.

Prints, relative to one forward+backward pass of the same model over the same 1,000 images
measured in the same run: the cost of one Hessian-vector product (each method of
``deeprelax.analysis.HVP_METHODS``) and the number of products and wall time of the top-10
eigenvalues with each solver. Targets (issue 6): top-10 in at most 300 products; one product at
most 3x a gradient.

    .venv/bin/python benchmarks/hessian_speed.py [--checkpoint runs/.../checkpoint.pt] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from deeprelax.analysis import HVP_METHODS, HessianOperator, top_hessian_eigenvalues
from deeprelax.experiments.checkpoint import load_checkpoint
from deeprelax.experiments.data import load_dataset
from deeprelax.experiments.models import build_model


def _time(fn, reps: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - start) / reps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", help="trained mnistfc checkpoint (default: fresh init, seed 0)")
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--tol", type=float, default=1e-3)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model("mnistfc")
    if args.checkpoint:
        model.load_state_dict(load_checkpoint(args.checkpoint)["model_state"])
    model.eval()
    (x, y), _ = load_dataset("mnist")
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[: args.images]
    batches = [(x[idx], y[idx])]
    d = sum(p.numel() for p in model.parameters())
    print(f"mnistfc: d = {d:,} parameters, {args.images} images, {args.threads} thread(s)")

    def grad_pass() -> None:
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(batches[0][0]), batches[0][1]).backward()

    t_grad = _time(grad_pass, args.reps)
    print(f"baseline: forward+backward {t_grad * 1e3:.1f} ms (= 1.00)")
    v = torch.randn(d, generator=torch.Generator().manual_seed(1))
    for method in HVP_METHODS:
        op = HessianOperator(model, F.cross_entropy, batches, method=method)
        t = _time(lambda op=op: op(v), args.reps)
        print(f"one HVP, method {method:16s}: {t / t_grad:5.2f} x gradient")
    results = {}
    for solver in ("arpack", "lanczos"):
        op = HessianOperator(model, F.cross_entropy, batches)
        op(v)  # build the retained graph outside the timing, like the baseline's warm-up
        start = time.perf_counter()
        res = top_hessian_eigenvalues(
            model, F.cross_entropy, batches, k=args.k, tol=args.tol, operator=op, solver=solver
        )
        wall = time.perf_counter() - start
        results[solver] = res.eigenvalues
        print(
            f"top-{args.k} ({solver:7s}, tol {args.tol:g}): {res.num_hvps} HVPs, wall "
            f"{wall / t_grad:6.1f} x gradient ({wall / (res.num_hvps * t_grad):.2f} per HVP); "
            f"eigenvalues {np.array2string(res.eigenvalues, precision=4)}"
        )
    rel = np.max(np.abs(results["arpack"] - results["lanczos"]) / np.abs(results["arpack"]))
    print(f"solvers agree to a relative {rel:.1e}")


if __name__ == "__main__":
    main()
