"""Parle / Elastic-SGD scale-out: communication per gradient evaluation, and time to SGD's error.

Part 1 (communication). ``--replicas`` gloo processes on 127.0.0.1 train mnistfc for a few steps
with (a) data-parallel SGD (``DistributedDataParallel``; bytes counted by a DDP comm hook that
wraps the default all-reduce), (b) ``ElasticSGD`` and (c) ``Parle`` (bytes counted by
``deeprelax.optim.replica.COMM_STATS``). Reported: payload bytes handed to all-reduce per
gradient evaluation per replica, and the ratio to DDP's. A ring all-reduce moves about 2(n-1)/n
times the payload per link for every method alike, so the ratios are those of the traffic.

Part 2 (time to accuracy, MNIST mnistfc). Single-process SGD and Entropy-SGD (the trainer's
protocol, one thread), then ``--replicas`` Parle replicas (one process each, one thread each,
under the same machine's cores), all with the same constant lr and a short budget in effective
epochs per replica. The target is SGD's test error at the end of its budget; for each method the
first evaluation at or below it is reported in effective epochs per replica, in effective epochs
of all replicas together, and in wall-clock seconds, with ratios to SGD.

Run (about 10 minutes on 2 busy CPU cores with the defaults)::

    .venv/bin/python benchmarks/parle_scaling.py --budget 2 --eval-every 0.25

The figures recorded in docs/distributed.md come from that command.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, n: int, port: int, out: str, job: str, args: dict[str, Any]) -> None:
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=n)
    try:
        result = (_comm_job if job == "comm" else _parle_job)(rank, n, args)
    finally:
        dist.destroy_process_group()
    torch.save(result, Path(out) / f"{job}-{rank}.pt")


def _spawn(job: str, n: int, args: dict[str, Any]) -> list[Any]:
    with tempfile.TemporaryDirectory() as out:
        mp.spawn(_worker, args=(n, _free_port(), out, job, args), nprocs=n, join=True)
        return [torch.load(Path(out) / f"{job}-{r}.pt", weights_only=False) for r in range(n)]


# ------------------------------------------------------------------------------ communication
def _comm_job(rank: int, n: int, args: dict[str, Any]) -> dict[str, Any]:
    from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook
    from torch.nn.parallel import DistributedDataParallel

    from deeprelax.experiments.models import build_model
    from deeprelax.optim.replica import COMM_STATS, ElasticSGD, Parle

    steps, L = args["comm_steps"], args["L"]
    g = torch.Generator().manual_seed(rank)

    def closure_for(model: torch.nn.Module, opt: torch.optim.Optimizer):
        def closure() -> torch.Tensor:
            opt.zero_grad()
            x = torch.rand(128, 1, 28, 28, generator=g)
            y = torch.randint(10, (128,), generator=g)
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            return loss

        return closure

    out: dict[str, Any] = {}
    torch.manual_seed(0)
    model = build_model("mnistfc")
    out["params"] = sum(p.numel() for p in model.parameters())
    ddp = DistributedDataParallel(model)
    ddp_bytes = [0]

    def counting_hook(state, bucket):  # no annotations: DDP checks them against real types
        ddp_bytes[0] += bucket.buffer().numel() * bucket.buffer().element_size()
        return allreduce_hook(state, bucket)

    ddp.register_comm_hook(None, counting_hook)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.01, momentum=0.9)
    for _ in range(steps):
        opt.step(closure_for(ddp, opt))
    out["ddp_sgd"] = ddp_bytes[0] / steps

    for name, cls, kw in (("elastic_sgd", ElasticSGD, {}), ("parle", Parle, {"L": L})):
        torch.manual_seed(0)
        model = build_model("mnistfc")
        opt = cls(model.parameters(), lr=0.01, **kw)
        opt.step(closure_for(model, opt))  # the first step also sets up r (one more all-reduce)
        COMM_STATS.reset()
        evals = opt.grad_evals
        for _ in range(steps):
            opt.step(closure_for(model, opt))
        out[name] = COMM_STATS.bytes / (opt.grad_evals - evals)
    return out


# ------------------------------------------------------------------------------ training
def _parle_job(rank: int, n: int, args: dict[str, Any]) -> dict[str, Any]:
    from deeprelax.experiments.distributed import run_distributed_experiment
    from deeprelax.experiments.run import RunSpec

    spec = RunSpec(
        model="mnistfc",
        dataset="mnist",
        optim="parle",
        budget=args["budget"],
        seed=args["seed"],
        lr_schedule=str(args["lr"]),
        hyper={"L": args["L"]},
        eval_every=args["eval_every"],
        bn_refresh_batches=args["bn_batches"],
    )
    summary = run_distributed_experiment(spec, args["out"] + "/parle", quiet=True)
    return {"summary": summary, "rows": _rows(args["out"] + "/parle") if rank == 0 else None}


def _rows(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(out, "metrics.jsonl").read_text().splitlines()]


def _single(method: str, args: dict[str, Any]) -> list[dict[str, Any]]:
    from deeprelax.experiments.grid import METHOD_HYPER
    from deeprelax.experiments.run import RunSpec, run_experiment

    spec = RunSpec(
        model="mnistfc",
        dataset="mnist",
        optim=method,
        budget=args["budget"],
        seed=args["seed"],
        lr_schedule=str(args["lr"]),
        hyper=dict(METHOD_HYPER[method]),
        eval_every=args["eval_every"],
        bn_refresh_batches=args["bn_batches"],
    )
    run_experiment(spec, f"{args['out']}/{method}", quiet=True, device="cpu")
    return _rows(f"{args['out']}/{method}")


def _first_reaching(rows: list[dict[str, Any]], target: float) -> dict[str, Any] | None:
    for row in rows:
        if isinstance(row["test_error"], float) and row["test_error"] <= target:
            return row
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--replicas", type=int, default=3)
    p.add_argument("--L", type=int, default=25, help="Parle's inner steps")
    p.add_argument("--budget", type=float, default=2.0, help="effective epochs per replica")
    p.add_argument("--eval-every", type=float, default=0.25)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--bn-batches", type=int, default=20, help="BN-refresh batches per evaluation")
    p.add_argument("--comm-steps", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-training", action="store_true")
    p.add_argument("--out", default="runs/parle_scaling")
    a = p.parse_args(argv)
    args = vars(a)
    torch.set_num_threads(1)
    Path(a.out).mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"args": args, "cpu_count": os.cpu_count(), "torch": torch.__version__}

    t0 = time.perf_counter()
    comm = _spawn("comm", a.replicas, args)[0]
    report["comm"] = comm
    d = comm["params"]
    print(
        f"== communication: mnistfc ({d:,} parameters), {a.replicas} gloo replicas, "
        f"payload bytes per gradient evaluation per replica ({time.perf_counter() - t0:.0f} s)"
    )
    print(f"{'method':<14}{'bytes/eval':>14}{'vs DDP-SGD':>12}")
    for name in ("ddp_sgd", "elastic_sgd", "parle"):
        print(f"{name:<14}{comm[name]:>14,.0f}{comm[name] / comm['ddp_sgd']:>12.5f}")
    print(
        f"(1/L = {1 / a.L:.5f}; Parle's buffer carries {a.replicas} finite-flags besides the "
        f"{d:,} weights)"
    )

    if not a.skip_training:
        runs: dict[str, list[dict[str, Any]]] = {}
        for method in ("sgd", "entropy-sgd"):
            t = time.perf_counter()
            runs[method] = _single(method, args)
            print(f"[{method}: {time.perf_counter() - t:.0f} s]", file=sys.stderr)
        t = time.perf_counter()
        runs["parle"] = _spawn("parle", a.replicas, args)[0]["rows"]
        print(f"[parle x{a.replicas}: {time.perf_counter() - t:.0f} s]", file=sys.stderr)
        report["runs"] = runs
        target = runs["sgd"][-1]["test_error"]
        sgd_hit = _first_reaching(runs["sgd"], target)
        print(
            f"\n== time to SGD's test error ({target:.2f} % after {a.budget:g} effective "
            f"epochs), MNIST mnistfc, lr {a.lr:g}, {os.cpu_count()} CPU cores, 1 thread per "
            "process"
        )
        print(
            f"{'method':<16}{'EE/replica':>11}{'EE all':>9}{'wall s':>9}{'EE ratio':>10}"
            f"{'wall ratio':>11}{'final err %':>12}"
        )
        summary = {}
        for method, rows in runs.items():
            hit = _first_reaching(rows, target)
            name = f"parle x{a.replicas}" if method == "parle" else method
            n = a.replicas if method == "parle" else 1
            final = rows[-1]["test_error"]
            if hit is None:
                print(f"{name:<16}{'not reached':>11}{'':>9}{'':>9}{'':>10}{'':>11}{final:>12.2f}")
                summary[method] = None
                continue
            ee, wall = hit["effective_epochs"], hit["wall_s"]
            summary[method] = dict(ee=ee, ee_all=ee * n, wall_s=wall, final_error=final)
            print(
                f"{name:<16}{ee:>11.2f}{ee * n:>9.2f}{wall:>9.0f}"
                f"{ee / sgd_hit['effective_epochs']:>10.2f}{wall / sgd_hit['wall_s']:>11.2f}"
                f"{final:>12.2f}"
            )
        report["time_to_target"] = dict(target=target, **summary)
    (Path(a.out) / "parle_scaling.json").write_text(json.dumps(report, indent=1, default=str))
    print(f"\nwritten {Path(a.out) / 'parle_scaling.json'}; total {time.perf_counter() - t0:.0f} s")
    return 0 if all(math.isfinite(v) for v in (comm["ddp_sgd"],)) else 1


if __name__ == "__main__":
    raise SystemExit(main())
