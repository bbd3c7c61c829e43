"""Scenarios run inside the gloo worker processes (imported by the spawned children)."""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.distributed as dist

from deeprelax.optim.replica import COMM_STATS, ElasticSGD


def tiny_model(seed: int = 0) -> torch.nn.Module:
    """A 2-layer float64 net, identical on every rank for the same seed."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)
    ).double()


def batch(rank: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Replica ``rank``'s minibatch number ``step``: fresh, deterministic, different per rank."""
    g = torch.Generator().manual_seed(1000 * rank + step)
    x = torch.randn(8, 5, generator=g, dtype=torch.float64)
    y = torch.randn(8, 2, generator=g, dtype=torch.float64)
    return x, y


def make_closure(
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    rank: int,
    counter: list[int],
    nan_at: int | None = None,
):
    def closure() -> torch.Tensor:
        opt.zero_grad()
        x, y = batch(rank, counter[0])
        counter[0] += 1
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        if nan_at is not None and counter[0] - 1 == nan_at:
            return loss * float("nan")
        return loss

    return closure


def flat(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def all_params(model: torch.nn.Module, n: int, group: Any = None) -> torch.Tensor:
    """``(n, d)`` stack of every replica's flat parameters."""
    mine = flat(model)
    out = [torch.empty_like(mine) for _ in range(n)]
    dist.all_gather(out, mine, group=group)
    return torch.stack(out)


def elastic_rho0_vs_sgd(rank: int, steps: int = 6) -> float:
    """Max |ElasticSGD(rho=0) - torch.optim.SGD| over the run (same data, same init)."""
    hyper = dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)
    m1, m2 = tiny_model(), tiny_model()
    o1 = ElasticSGD(m1.parameters(), rho=0.0, **hyper)
    o2 = torch.optim.SGD(m2.parameters(), **hyper)
    c1, c2 = [0], [0]
    worst = 0.0
    for _ in range(steps):
        o1.step(make_closure(m1, o1, rank, c1))
        o2.step(make_closure(m2, o2, rank, c2))
        worst = max(worst, float((flat(m1) - flat(m2)).abs().max()))
    return worst


def elastic_reference_is_mean(rank: int, n: int, steps: int = 5) -> dict[str, Any]:
    """After every step: max |r - mean_a x_a| and the spread of the replicas."""
    model = tiny_model()
    opt = ElasticSGD(model.parameters(), lr=0.05, rho=0.5, scoping=0.1, rho_max=1.0)
    counter = [0]
    errors, spreads, refs_agree = [], [], []
    for _ in range(steps):
        opt.step(make_closure(model, opt, rank, counter))
        xs = all_params(model, n)
        ref = torch.cat([r.reshape(-1) for r in opt.references()])
        errors.append(float((ref - xs.mean(0)).abs().max()))
        spreads.append(float((xs - xs.mean(0)).abs().max()))
        refs = [torch.empty_like(ref) for _ in range(n)]
        dist.all_gather(refs, ref)
        refs_agree.append(all(torch.equal(refs[0], r) for r in refs))
    return dict(
        errors=errors,
        spreads=spreads,
        refs_agree=refs_agree,
        rho_last=opt.rho_at(opt.param_groups[0]),
    )


def elastic_resume(rank: int, steps: int = 6, split: int = 3) -> dict[str, Any]:
    """Straight run vs run-save-rebuild-load-run; both on rho>0 with scoping and momentum."""
    hyper = dict(lr=0.05, momentum=0.9, rho=0.3, scoping=0.2, rho_max=0.5)
    m = tiny_model()
    o = ElasticSGD(m.parameters(), **hyper)
    c = [0]
    for _ in range(steps):
        o.step(make_closure(m, o, rank, c))
    straight = flat(m)

    m = tiny_model()
    o = ElasticSGD(m.parameters(), **hyper)
    c = [0]
    for _ in range(split):
        o.step(make_closure(m, o, rank, c))
    saved = copy.deepcopy((m.state_dict(), o.state_dict(), c[0]))
    m2 = tiny_model(seed=123)  # a different init: everything must come from the checkpoint
    o2 = ElasticSGD(m2.parameters(), **hyper)
    m2.load_state_dict(saved[0])
    o2.load_state_dict(saved[1])
    c2 = [saved[2]]
    for _ in range(steps - split):
        o2.step(make_closure(m2, o2, rank, c2))
    return dict(
        max_diff=float((flat(m2) - straight).abs().max()),
        outer_steps=o2.outer_steps,
        grad_evals=o2.grad_evals,
    )


def elastic_nan(rank: int, bad_rank: int, nan_at: int) -> Any:
    """The loss of ``bad_rank`` turns NaN at step ``nan_at``; every rank must raise."""
    model = tiny_model()
    opt = ElasticSGD(model.parameters(), lr=0.05, rho=0.3)
    counter = [0]
    for _ in range(nan_at + 3):
        opt.step(make_closure(model, opt, rank, counter, nan_at if rank == bad_rank else None))
    return "no error"


def elastic_mismatch(rank: int) -> Any:
    model = tiny_model()
    opt = ElasticSGD(model.parameters(), lr=0.05 if rank == 0 else 0.2, rho=0.3)
    opt.step(make_closure(model, opt, rank, [0]))
    return "no error"


def elastic_subgroup(rank: int) -> dict[str, Any]:
    """Ranks 0 and 1 form a group; rank 2 trains alone (world of one via its own group)."""
    g01 = dist.new_group([0, 1])
    g2 = dist.new_group([2])
    mine = g01 if rank in (0, 1) else g2
    model = tiny_model()
    opt = ElasticSGD(model.parameters(), lr=0.05, rho=0.5, group=mine)
    counter = [0]
    for _ in range(3):
        opt.step(make_closure(model, opt, rank, counter))
    ref = torch.cat([r.reshape(-1) for r in opt.references()])
    if rank == 2:
        return dict(err=float((ref - flat(model)).abs().max()))
    xs = all_params(model, 2, group=g01)
    return dict(err=float((ref - xs.mean(0)).abs().max()))


def comm_bytes(rank: int, steps: int = 4) -> dict[str, int]:
    model = tiny_model()
    opt = ElasticSGD(model.parameters(), lr=0.05, rho=0.5)
    opt.step(make_closure(model, opt, rank, [0]))
    COMM_STATS.reset()
    counter = [1]
    for _ in range(steps):
        opt.step(make_closure(model, opt, rank, counter))
    return dict(
        calls=COMM_STATS.calls,
        bytes=COMM_STATS.bytes,
        numel=sum(p.numel() for p in model.parameters()),
    )


def error_record(fn, *args, **kwargs) -> Any:
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the test inspects the error
        return (type(exc).__name__, str(exc))


def reference_errors(model, opt, n: int, first: int) -> tuple[float, float, bool]:
    """max |r - mean_a x_a| over every parameter, the replicas' spread over the parameters from
    index ``first`` on, and whether every rank holds the same reference."""
    xs = all_params(model, n)
    ref = torch.cat([r.reshape(-1) for r in opt.references()])
    refs = [torch.empty_like(ref) for _ in range(n)]
    dist.all_gather(refs, ref)
    start = sum(p.numel() for p in list(model.parameters())[:first])
    spread = float((xs[:, start:] - xs[:, start:].mean(0)).abs().max())
    return float((ref - xs.mean(0)).abs().max()), spread, all(torch.equal(refs[0], r) for r in refs)


def add_group_mid_training(rank: int, n: int, cls_name: str) -> dict[str, Any]:
    """The second layer joins after two outer steps (Parle: in the middle of the third, closure-
    free): its reference is the replica mean from then on, like the first layer's."""
    model = tiny_model()
    first, second = list(model[0].parameters()), list(model[2].parameters())
    if cls_name == "ElasticSGD":
        opt = ElasticSGD(first, lr=0.05, kappa=0.5)
    else:
        opt = Parle(first, kappa=0.5, closure_free=True, generator=gen(rank), **PARLE_HYPER)
    closure = make_closure(model, opt, rank, [0])
    evals = opt.evals_per_step
    for _ in range(2 * evals + (1 if evals > 1 else 0)):
        closure()
        opt.step()
    opt.add_param_group({"params": second, "lr": 0.1})
    results = []
    for _ in range(3 * evals):
        closure()
        opt.step()
        if opt.inner_index == 0:
            results.append(reference_errors(model, opt, n, len(first)))
    return dict(
        errors=[e for e, _, _ in results],
        spreads=[s for _, s, _ in results],
        agree=[a for _, _, a in results],
        outer_steps=opt.outer_steps,
    )


def add_group_mismatch(rank: int) -> Any:
    model = tiny_model()
    opt = ElasticSGD(model[0].parameters(), lr=0.05, kappa=0.5)
    closure = make_closure(model, opt, rank, [0])
    opt.step(closure)
    opt.add_param_group({"params": model[2].parameters(), "lr": 0.1 if rank != 1 else 0.3})
    opt.step(closure)
    return "no error"


def elastic_battery(rank: int, n: int) -> dict[str, Any]:
    """Every ElasticSGD scenario in one process group (one spawn for the whole file)."""
    out: dict[str, Any] = {}
    out["rho0_vs_sgd"] = elastic_rho0_vs_sgd(rank)
    out["reference"] = elastic_reference_is_mean(rank, n)
    out["resume"] = elastic_resume(rank)
    out["nan"] = error_record(elastic_nan, rank, 1, 2)
    out["mismatch"] = error_record(elastic_mismatch, rank)
    out["subgroup"] = elastic_subgroup(rank)
    out["comm"] = comm_bytes(rank)
    out["add_group"] = add_group_mid_training(rank, n, "ElasticSGD")
    out["add_group_mismatch"] = error_record(add_group_mismatch, rank)
    return out


# ---------------------------------------------------------------------------------- Parle
from deeprelax.optim import EntropySGD  # noqa: E402
from deeprelax.optim.replica import Parle  # noqa: E402

PARLE_HYPER = dict(
    lr=0.05,
    momentum=0.9,
    nesterov=True,
    weight_decay=1e-3,
    L=3,
    gamma=0.1,
    scoping=0.1,
    gamma_max=0.15,
    inner_lr=0.05,
    inner_momentum=0.5,
    alpha=0.5,
)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def parle_rho0_vs_entropysgd(rank: int, noise: float, steps: int = 4) -> float:
    """Max |Parle(rho=0) - EntropySGD| with the same keywords, data and noise generator seed."""
    m1, m2 = tiny_model(), tiny_model()
    o1 = Parle(m1.parameters(), rho=0.0, noise=noise, generator=gen(7 + rank), **PARLE_HYPER)
    o2 = EntropySGD(m2.parameters(), noise=noise, generator=gen(7 + rank), **PARLE_HYPER)
    c1, c2 = [0], [0]
    worst = 0.0
    for _ in range(steps):
        o1.step(make_closure(m1, o1, rank, c1))
        o2.step(make_closure(m2, o2, rank, c2))
        worst = max(worst, float((flat(m1) - flat(m2)).abs().max()))
    return worst


def parle_L0_vs_elastic(rank: int, steps: int = 4) -> float:
    hyper = dict(lr=0.05, momentum=0.9, weight_decay=1e-3, rho=0.4, scoping=0.2, rho_max=0.6)
    m1, m2 = tiny_model(), tiny_model()
    o1 = Parle(m1.parameters(), L=0, **hyper)
    o2 = ElasticSGD(m2.parameters(), **hyper)
    c1, c2 = [0], [0]
    worst = 0.0
    for _ in range(steps):
        o1.step(make_closure(m1, o1, rank, c1))
        o2.step(make_closure(m2, o2, rank, c2))
        worst = max(worst, float((flat(m1) - flat(m2)).abs().max()))
    return worst


def parle_reference_is_mean(rank: int, n: int, steps: int = 5) -> dict[str, Any]:
    model = tiny_model()
    opt = Parle(model.parameters(), rho=0.5, noise=1e-3, generator=gen(rank), **PARLE_HYPER)
    counter = [0]
    errors, spreads = [], []
    for i in range(steps):
        if i == 1:  # count from the second step: the first also sets up r (one more all-reduce)
            COMM_STATS.reset()
            evals0 = opt.grad_evals
        opt.step(make_closure(model, opt, rank, counter))
        xs = all_params(model, n)
        ref = torch.cat([r.reshape(-1) for r in opt.references()])
        errors.append(float((ref - xs.mean(0)).abs().max()))
        spreads.append(float((xs - xs.mean(0)).abs().max()))
    return dict(
        errors=errors,
        spreads=spreads,
        calls=COMM_STATS.calls,
        bytes=COMM_STATS.bytes,
        grad_evals=opt.grad_evals - evals0,
        numel=sum(p.numel() for p in model.parameters()),
        rho_last=opt.kappa_at(),
        gamma_last=opt.coupling(),
    )


def parle_resume(rank: int, steps: int = 5, split: int = 2) -> dict[str, Any]:
    hyper = dict(PARLE_HYPER, rho=0.5, rho_max=0.55, noise=1e-2)
    m = tiny_model()
    o = Parle(m.parameters(), generator=gen(rank), **hyper)
    c = [0]
    for _ in range(steps):
        o.step(make_closure(m, o, rank, c))
    straight = flat(m)

    m = tiny_model()
    o = Parle(m.parameters(), generator=gen(rank), **hyper)
    c = [0]
    for _ in range(split):
        o.step(make_closure(m, o, rank, c))
    saved = copy.deepcopy((m.state_dict(), o.state_dict(), c[0]))
    m2 = tiny_model(seed=99)
    o2 = Parle(m2.parameters(), generator=gen(1234), **hyper)  # state must come from the file
    m2.load_state_dict(saved[0])
    o2.load_state_dict(saved[1])
    c2 = [saved[2]]
    for _ in range(steps - split):
        o2.step(make_closure(m2, o2, rank, c2))
    return dict(
        max_diff=float((flat(m2) - straight).abs().max()),
        outer_steps=o2.outer_steps,
        grad_evals=o2.grad_evals,
    )


def parle_nan(rank: int, bad_rank: int, nan_at: int) -> Any:
    model = tiny_model()
    opt = Parle(model.parameters(), rho=0.5, **PARLE_HYPER)
    counter = [0]
    for _ in range(nan_at + 3):
        opt.step(make_closure(model, opt, rank, counter, nan_at if rank == bad_rank else None))
    return "no error"


def parle_mismatch(rank: int) -> Any:
    model = tiny_model()
    hyper = dict(PARLE_HYPER, L=3 if rank != 2 else 4)
    opt = Parle(model.parameters(), rho=0.5, **hyper)
    opt.step(make_closure(model, opt, rank, [0]))
    return "no error"


def parle_battery(rank: int, n: int) -> dict[str, Any]:
    """Every Parle scenario in one process group."""
    out: dict[str, Any] = {}
    out["rho0_noise_free"] = parle_rho0_vs_entropysgd(rank, 0.0)
    out["rho0_noise"] = parle_rho0_vs_entropysgd(rank, 1e-2)
    out["L0_vs_elastic"] = parle_L0_vs_elastic(rank)
    out["reference"] = parle_reference_is_mean(rank, n)
    out["resume"] = parle_resume(rank)
    out["nan"] = error_record(parle_nan, rank, 2, 4)  # evaluation 4 = inner step 1 of outer step 1
    out["mismatch"] = error_record(parle_mismatch, rank)
    out["add_group"] = add_group_mid_training(rank, n, "Parle")
    return out


def battery(rank: int, n: int) -> dict[str, Any]:
    return {"elastic": elastic_battery(rank, n), "parle": parle_battery(rank, n)}


# ------------------------------------------------------------------------- torchrun training
TRAIN_ARGS = [
    "--model",
    "tiny-mlp",
    "--dataset",
    "synthetic",
    "--optim",
    "parle",
    "--L",
    "2",
    "--rho",
    "0.5",
    "--noise",
    "1e-3",
    "--budget",
    "4",
    "--eval-every",
    "1",
    "--quiet",
]


def training_spec(**changes: Any):
    from deeprelax.experiments.run import RunSpec

    spec = dict(
        model="tiny-mlp",
        dataset="synthetic",
        optim="parle",
        budget=4.0,
        hyper={"L": 2, "rho": 0.5, "noise": 1e-3},
        eval_every=1.0,
    )
    spec.update(changes)
    return RunSpec(**spec)


def _final(out: str) -> dict[str, Any]:
    import json
    from pathlib import Path

    from deeprelax.experiments.checkpoint import load_checkpoint

    rows = [json.loads(line) for line in Path(out, "metrics.jsonl").read_text().splitlines()]
    blob = load_checkpoint(Path(out, "checkpoint.pt"))
    return dict(
        rows=[{k: v for k, v in r.items() if k != "wall_s"} for r in rows],
        reference=blob["model_state"],
        replicas=len(blob["progress"]["replicas"]),
    )


def training_battery(rank: int, n: int, root: str) -> dict[str, Any]:
    """Uninterrupted run, paused-and-resumed run, NaN on one rank, mismatched configuration."""
    from tests.support import run_smoke as run_distributed_experiment
    from tests.support import synthetic_dataset

    out: dict[str, Any] = {}
    base = f"{root}/baseline"
    summary = run_distributed_experiment(training_spec(), base, quiet=True)
    out["summary_status"] = summary["status"]
    if rank == 0:
        out["baseline"] = _final(base)

    paused = f"{root}/paused"
    first = run_distributed_experiment(training_spec(), paused, quiet=True, until=2.0)
    second = run_distributed_experiment(training_spec(), paused, quiet=True, resume=True)
    out["paused_status"] = (first["status"], second["status"])
    if rank == 0:
        out["paused"] = _final(paused)

    (xtr, ytr), test = synthetic_dataset()
    if rank == 1:
        xtr = xtr.clone()
        xtr[:] = float("nan")
    out["nan"] = error_record(
        run_distributed_experiment, training_spec(), None, quiet=True, data=((xtr, ytr), test)
    )
    spec = training_spec(hyper={"L": 2, "rho": 0.5 if rank == 0 else 0.7, "noise": 1e-3})
    out["mismatch"] = error_record(run_distributed_experiment, spec, None, quiet=True)
    out["shard"] = shard_check(rank, n)
    return out


def shard_check(rank: int, n: int) -> dict[str, Any]:
    """With shard=True replica a draws only from examples [a * N/n, (a+1) * N/n)."""
    from deeprelax.experiments.protocol import TrainConfig
    from deeprelax.experiments.replica import ReplicaTrainer
    from tests.support import synthetic_dataset

    train, test = synthetic_dataset()
    xs = torch.arange(train[0].shape[0], dtype=torch.float32)[:, None].expand(-1, 20).contiguous()
    seen: list[torch.Tensor] = []

    class Probe(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(20, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(x[:, 0].long())
            return self.lin(x)

    model = Probe()
    opt = ElasticSGD(model.parameters(), lr=0.0, rho=0.0)
    cfg = TrainConfig(budget=1.0, eval_every=1.0, quiet=True, bn_refresh_batches=0)
    trainer = ReplicaTrainer(model, opt, (xs, train[1]), test, cfg, None, {}, shard=True)
    for _ in range(3):
        opt.step(trainer._closure)
    idx = torch.cat(seen)
    return dict(lo=int(idx.min()), hi=int(idx.max()), n_train=xs.shape[0], draws=idx.numel())


def cli_train(rank: int, n: int, out: str) -> dict[str, Any]:
    """``deeprelax train --optim parle`` inside an existing process group (as under torchrun)."""
    import json
    from pathlib import Path

    from deeprelax.cli import main

    code = main(
        [
            "train",
            "--optim",
            "parle",
            "--model",
            "mnistfc",
            "--budget",
            "0.05",
            "--eval-every",
            "0.05",
            "--L",
            "5",
            "--test-subset",
            "500",
            "--bn-refresh-batches",
            "2",
            "--out",
            out,
            "--quiet",
            "--threads",
            "1",
        ]
    )
    rows = (
        [json.loads(x) for x in Path(out, "metrics.jsonl").read_text().splitlines()]
        if rank == 0
        else []
    )
    return dict(code=code, rows=rows)
