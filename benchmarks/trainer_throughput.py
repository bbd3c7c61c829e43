"""`deeprelax train`'s cost against a bare PyTorch loop, and evaluation's share of a grid run.

Per model (mnistfc, LeNet; MNIST; SGD as in the grid: Nesterov momentum 0.9, the grid's lr
schedule; one torch thread):

* **training**: time per gradient evaluation of the :class:`~deeprelax.experiments.Trainer` loop
  (evaluation stubbed out) against a bare loop with the same model, optimizer and batch
  sampling (128 indices drawn with replacement from a seeded generator, one fresh batch per
  step), interleaved in rounds; the median of the per-round ratios is printed;
* **evaluation**: one evaluation as the grid does it (batch-norm refresh over the training set,
  the whole test set, the metrics line and the checkpoint), against one effective epoch of
  training; its share of a run at the grid's cadence and at sparser ones.

    python benchmarks/trainer_throughput.py                 # ~2 minutes on one busy core
    python benchmarks/trainer_throughput.py --rounds 7 --steps 80
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F

from deeprelax.experiments.data import load_dataset
from deeprelax.experiments.grid import LR_SCHEDULES, grid_spec
from deeprelax.experiments.models import build_model
from deeprelax.experiments.trainer import (
    LRSchedule,
    TrainConfig,
    Trainer,
    evaluate,
    refresh_batchnorm,
)


def _sgd(model: torch.nn.Module) -> torch.optim.SGD:
    return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)


def bare_loop(name: str, train, steps: int) -> float:
    """Seconds per step of the plainest loop that trains the same thing."""
    torch.manual_seed(0)
    model = build_model(name)
    opt = _sgd(model)
    x, y = train
    sampler = torch.Generator().manual_seed(0)
    model.train()
    start = time.perf_counter()
    for _ in range(steps):
        idx = torch.randint(x.shape[0], (128,), generator=sampler)
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
    return (time.perf_counter() - start) / steps


def _trainer(name: str, train, test, budget: float, out_dir=None) -> Trainer:
    torch.manual_seed(0)
    model = build_model(name)
    config = TrainConfig(
        budget=budget, lr_schedule=LRSchedule.parse(LR_SCHEDULES[name]), eval_every=1e9, quiet=True
    )
    return Trainer(model, _sgd(model), train, test, config, out_dir, run_config={"model": name})


def trainer_loop(name: str, train, test, steps: int) -> float:
    """Seconds per step of Trainer.run with evaluation (and so checkpoints) stubbed out."""
    bpe = -(-train[0].shape[0] // 128)
    trainer = _trainer(name, train, test, budget=steps / bpe)
    trainer._evaluate = lambda: {"test_error": 0.0}
    trainer._record = lambda row: None
    start = time.perf_counter()
    trainer.run()
    assert trainer.grad_evals == steps
    return (time.perf_counter() - start) / steps


def evaluation(name: str, train, test, repeats: int) -> dict[str, float]:
    """Seconds per evaluation and its parts: BN refresh over the training set, the test set, and
    the record (metrics line and checkpoint), each the median of ``repeats``."""
    parts: dict[str, list[float]] = {"refresh": [], "test": [], "record": []}
    with tempfile.TemporaryDirectory() as tmp:
        trainer = _trainer(name, train, test, budget=1.0, out_dir=tmp)
        for _ in range(repeats):
            start = time.perf_counter()
            refresh_batchnorm(trainer.model, train[0], 128, None)
            parts["refresh"].append(time.perf_counter() - start)
            start = time.perf_counter()
            evaluate(trainer.model, test, trainer.config.eval_batch_size)
            parts["test"].append(time.perf_counter() - start)
            row = trainer._evaluate()
            start = time.perf_counter()
            trainer._record(row)
            parts["record"].append(time.perf_counter() - start)
    out = {k: statistics.median(v) for k, v in parts.items()}
    out["total"] = sum(out.values())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mnistfc,lenet")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median)")
    parser.add_argument("--steps", type=int, default=60, help="steps per loop per round")
    parser.add_argument("--eval-repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    train, test = load_dataset("mnist")
    bpe = -(-train[0].shape[0] // 128)
    print(f"torch {torch.__version__}, 1 thread; {bpe} batches per effective epoch (EE)")
    for name in args.models.split(","):
        cadence = grid_spec(name, "sgd", 0).eval_every
        bare_loop(name, train, 5), trainer_loop(name, train, test, 5)  # warm-up
        bare, ours = [], []
        for _ in range(args.rounds):
            bare.append(bare_loop(name, train, args.steps))
            ours.append(trainer_loop(name, train, test, args.steps))
        ratio = statistics.median(o / b for o, b in zip(ours, bare))
        step = statistics.median(ours)
        parts = evaluation(name, train, test, args.eval_repeats)
        ev = parts["total"]
        epoch = step * bpe
        print(
            f"{name:8s} bare loop {statistics.median(bare) * 1e3:6.1f} ms/step, trainer "
            f"{step * 1e3:6.1f} ms/step: trainer / bare = {ratio:.3f} (median of {args.rounds} "
            f"rounds, min {min(o / b for o, b in zip(ours, bare)):.3f}, "
            f"max {max(o / b for o, b in zip(ours, bare)):.3f})"
        )
        shares = ", ".join(
            f"every {c:g} EE: {100 * ev / (ev + c * epoch):.1f} %" for c in (cadence, 2, 5)
        )
        print(
            f"{name:8s} one evaluation {ev:.2f} s = {ev / epoch:.2f} EE of training "
            f"({epoch:.1f} s/EE): BN refresh {parts['refresh']:.2f} s, test set "
            f"{parts['test']:.2f} s, metrics line + checkpoint {parts['record']:.2f} s"
        )
        print(
            f"{name:8s} evaluation's share of a run: {shares} (the grid evaluates every {cadence:g} EE)"
        )


if __name__ == "__main__":
    main()
