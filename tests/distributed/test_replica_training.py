"""The torchrun training path: reference evaluation, exact resume (pause, kill), faults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from replica_harness import WorkerError, run_workers
from replica_scenarios import TRAIN_ARGS, _final, training_battery

N = 2
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[dict]:
    root = tmp_path_factory.mktemp("dist-train")
    results = run_workers(training_battery, N, str(root), timeout=240)
    for rank, r in enumerate(results):
        if isinstance(r, WorkerError):
            pytest.fail(f"rank {rank} failed: {r.type}: {r.message}\n{r.traceback}")
    return results


def _same_reference(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_training_records_the_reference_and_both_effective_epochs(runs):
    base = runs[0]["baseline"]
    assert runs[0]["summary_status"] == runs[1]["summary_status"] == "finished"
    assert [r["effective_epochs"] for r in base["rows"]] == [1.0, 2.0, 3.0, 4.0]
    assert [r["effective_epochs_all_replicas"] for r in base["rows"]] == [2.0, 4.0, 6.0, 8.0]
    assert base["replicas"] == N
    errors = [r["test_error"] for r in base["rows"]]
    assert errors[-1] < errors[0]  # it learns (synthetic 4-class data, chance = 75 %)


def test_pause_and_resume_matches_uninterrupted_run(runs):
    assert runs[0]["paused_status"] == ("paused", "finished")
    a, b = runs[0]["baseline"], runs[0]["paused"]
    assert a["rows"] == b["rows"]
    assert _same_reference(a["reference"], b["reference"])


def test_nan_on_one_rank_stops_every_rank_naming_it(runs):
    for r in runs:
        kind, msg = r["nan"]
        assert kind == "TrainingStopped"
        assert "rank 1 " in msg


def test_mismatched_configuration_refused_at_start(runs):
    for r in runs:
        kind, msg = r["mismatch"]
        assert kind == "ValueError"
        assert "rank 1 has spec.hyper.rho=0.7 where rank 0 has 0.5" in msg


def test_shard_draws_only_from_the_replicas_slice(runs):
    for rank, r in enumerate(runs):
        s = r["shard"]
        per = s["n_train"] // N
        assert s["draws"] == 3 * 128
        assert rank * per <= s["lo"] and s["hi"] < (rank + 1) * per
        assert s["hi"] - s["lo"] > per // 2  # it does spread over the slice


@pytest.mark.slow
def test_replica_killed_under_torchrun_resumes_and_matches(runs, tmp_path):
    """torchrun --max-restarts 1: rank 1 SIGKILLs itself at its 9th gradient evaluation (after the
    checkpoint at 8); the restarted job resumes and ends exactly where the uninterrupted run did."""
    out = tmp_path / "killed"
    env = dict(os.environ, DEEPRELAX_FAULT_INJECT="1:9", OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        str(N),
        "--max-restarts",
        "1",
        "--monitor-interval",
        "0.5",
        "-m",
        "tests.support.replica_main",
        *TRAIN_ARGS,
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "killing this replica at 9 gradient evaluations" in proc.stderr
    summary = json.loads(Path(out, "summary.json").read_text())
    assert summary["status"] == "finished"
    killed, base = _final(str(out)), runs[0]["baseline"]
    assert killed["rows"] == base["rows"]
    assert _same_reference(killed["reference"], base["reference"])


@pytest.mark.slow
def test_deeprelax_train_cli_runs_replicas(tmp_path):
    from replica_scenarios import cli_train

    results = run_workers(cli_train, N, str(tmp_path / "cli"), timeout=240)
    for rank, r in enumerate(results):
        assert not isinstance(r, WorkerError), f"rank {rank}: {r}"
        assert r["code"] == 0
    rows = results[0]["rows"]
    assert rows and rows[-1]["replicas"] == N
    assert rows[-1]["effective_epochs_all_replicas"] == pytest.approx(
        N * rows[-1]["effective_epochs"]
    )
