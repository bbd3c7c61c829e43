"""What each grid method costs per effective epoch relative to SGD, and so how long it takes to reach
SGD's final error, measured in one run (the grid's own clocks ran under different loads).

Per model, every method of the grid with the grid's hyper-parameters (``grid_spec``) trains through
:class:`~deeprelax.experiments.Trainer` with evaluation stubbed out; the methods are timed in
alternation, ``--rounds`` rounds after a warm-up, and each method's time per gradient evaluation is
divided by SGD's **in the same round** (the median over rounds is printed). One evaluation as the
grid does it (batch-norm refresh over the training set, the whole test set) is timed too, since a
run pays it at the same cadence whatever the method. With ``--results``, the committed grid's
effective epochs to reach SGD's final mean error (``deeprelax report``'s rule) are turned into
time: ``EE to reach x (training + evaluation) per EE``, against SGD's own.

    python benchmarks/grid_pace.py --results results/mnist           # a few minutes, one thread
    python benchmarks/grid_pace.py --models mnistfc --rounds 5 --evals 80
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from deeprelax.experiments.data import load_dataset
from deeprelax.experiments.grid import grid_spec
from deeprelax.experiments.run import build_run
from deeprelax.experiments.trainer import Trainer, evaluate, refresh_batchnorm

METHODS = ("sgd", "entropy-sgd", "hj", "heat")


def seconds_per_eval(model_name: str, method: str, data, evals: int) -> float:
    """Seconds per gradient evaluation of the grid's run of ``method``, evaluation stubbed out."""
    spec = grid_spec(model_name, method, 0)
    model, opt, train, test, config = build_run(spec, torch.device("cpu"), data, quiet=True)
    bpe = -(-train[0].shape[0] // config.batch_size)
    config.budget = evals / bpe
    config.eval_every = 1e9
    trainer = Trainer(model, opt, train, test, config, None, run_config={"model": model_name})
    trainer._evaluate = lambda: {"test_error": 0.0}
    trainer._record = lambda row: None
    start = time.perf_counter()
    trainer.run()
    return (time.perf_counter() - start) / trainer.grad_evals


def seconds_per_evaluation(model_name: str, data, repeats: int = 3) -> float:
    spec = grid_spec(model_name, "sgd", 0)
    model, _, train, test, config = build_run(spec, torch.device("cpu"), data, quiet=True)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        refresh_batchnorm(model, train[0], config.batch_size, config.bn_refresh_batches)
        evaluate(model, test, config.eval_batch_size)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def reach(results: str, model_name: str) -> dict[str, float | None]:
    """EE at which each method's seed-mean curve first reaches SGD's final mean error."""
    from deeprelax.experiments.report import load_results

    cells = load_results(results).get(model_name, {})
    if "sgd" not in cells:
        return {}
    target = float(cells["sgd"].err[:, -1].mean())
    out: dict[str, float | None] = {}
    for method, cell in cells.items():
        hit = np.nonzero(cell.err.mean(axis=0) <= target + 1e-12)[0]
        out[method] = float(cell.ee[hit[0]]) if len(hit) else None
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mnistfc,lenet")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median)")
    parser.add_argument("--evals", type=int, default=84, help="gradient evaluations per timing")
    parser.add_argument("--results", help="committed grid results (e.g. results/mnist)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = load_dataset("mnist")
    bpe = -(-data[0][0].shape[0] // 128)
    print(f"torch {torch.__version__}, {args.threads} thread(s); {bpe} gradient evaluations per EE")
    for name in args.models.split(","):
        for method in METHODS:  # warm-up
            seconds_per_eval(name, method, data, 21)
        rounds: dict[str, list[float]] = {m: [] for m in METHODS}
        for _ in range(args.rounds):
            for method in METHODS:
                rounds[method].append(seconds_per_eval(name, method, data, args.evals))
        sgd = rounds["sgd"]
        ev = seconds_per_evaluation(name, data)
        cadence = grid_spec(name, "sgd", 0).eval_every
        ev_per_ee = ev / cadence
        sgd_ee = statistics.median(sgd) * bpe + ev_per_ee
        reached = reach(args.results, name) if args.results else {}
        print(
            f"\n{name}: one evaluation {ev:.2f} s every {cadence:g} EE; SGD "
            f"{statistics.median(sgd) * 1e3:.1f} ms per gradient evaluation"
        )
        print("| method | ms / eval | vs SGD (median of rounds) | s / EE with evaluation | vs SGD |"
              " EE to reach SGD's final | time to reach, SGD = 1 |")  # fmt: skip
        print("|---|---|---|---|---|---|---|")
        sgd_reach = reached.get("sgd")
        for method in METHODS:
            ratio = statistics.median(m / s for m, s in zip(rounds[method], sgd))
            per_ee = statistics.median(rounds[method]) * bpe + ev_per_ee
            per_ee_ratio = (ratio * statistics.median(sgd) * bpe + ev_per_ee) / sgd_ee
            r = reached.get(method)
            if r is None or sgd_reach is None:
                time_cell = "not reached" if method in reached else "-"
                ee_cell = time_cell
            else:
                ee_cell = f"{r:.0f}"
                time_cell = f"{r * per_ee_ratio / sgd_reach:.2f}"
            print(
                f"| {method} | {statistics.median(rounds[method]) * 1e3:.1f} | {ratio:.3f} | "
                f"{per_ee:.1f} | {per_ee_ratio:.3f} | {ee_cell} | {time_cell} |"
            )


if __name__ == "__main__":
    main()
