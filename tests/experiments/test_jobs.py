"""``reproduce --jobs``: runs in worker processes give the files one-at-a-time gives."""

import json
import struct
import time

import numpy as np
import pytest
import torch

from deeprelax.experiments import reproduce as R
from deeprelax.experiments.data import IDX_FILES

QUIET = dict(quick=True, quiet=True, log=lambda *a, **k: None)


def write_idx_mnist(folder, n_train=256, n_test=100, seed=0):
    """Tiny MNIST-shaped IDX files, so that spawned workers load the same data from disk."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for key, array in arrays.items():
        head = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
        (folder / IDX_FILES[key]).write_bytes(head + array.tobytes())
    return folder


def _rows(out, method, seed=0):
    lines = (R.run_dir(out, "mnistfc", method, seed) / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "wall_s"} for line in lines]


@pytest.fixture(scope="module")
def idx_dir(tmp_path_factory):
    return str(write_idx_mnist(tmp_path_factory.mktemp("idx")))


@pytest.fixture(scope="module")
def sequential(tmp_path_factory, idx_dir):
    out = tmp_path_factory.mktemp("seq")
    # the workers run one torch thread each; a reduction's order (and so the last bit of a loss)
    # depends on the thread count, so the one-at-a-time reference runs with one thread too
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        R.reproduce(["mnistfc"], ["sgd", "entropy-sgd"], 2, out, data_dir=idx_dir, **QUIET)
    finally:
        torch.set_num_threads(threads)
    return out


def test_jobs_give_the_files_of_one_at_a_time(tmp_path, idx_dir, sequential):
    # half of the runs are interrupted first (resumed by the parallel call), half start fresh
    R.reproduce(
        ["mnistfc"], ["sgd", "entropy-sgd"], 1, tmp_path, data_dir=idx_dir, until=0.5, **QUIET
    )
    assert (
        json.loads((R.run_dir(tmp_path, "mnistfc", "sgd", 0) / "summary.json").read_text())[
            "status"
        ]
        == "paused"
    )
    table, _ = R.reproduce(
        ["mnistfc"], ["sgd", "entropy-sgd"], 2, tmp_path, data_dir=idx_dir, jobs=2, **QUIET
    )
    assert table.count("| 2/2 |") == 2
    for method in ("sgd", "entropy-sgd"):
        for seed in (0, 1):
            assert _rows(tmp_path, method, seed) == _rows(sequential, method, seed)
            summary = json.loads(
                (R.run_dir(tmp_path, "mnistfc", method, seed) / "summary.json").read_text()
            )
            assert summary["status"] == "finished" and summary["config"]["seed"] == 42 + seed


def test_jobs_skip_finished_runs(sequential, idx_dir, monkeypatch):
    started = []
    monkeypatch.setattr(R, "run_tasks", lambda tasks, jobs, **k: started.extend(tasks))
    R.reproduce(
        ["mnistfc"], ["sgd", "entropy-sgd"], 2, sequential, data_dir=idx_dir, jobs=2, **QUIET
    )
    assert started == []


def test_time_limit_pauses_at_an_evaluation_then_resumes(
    tmp_path, idx_dir, sequential, monkeypatch
):
    # a limit that has passed by the first evaluation: the run pauses there, resumable
    from types import SimpleNamespace

    from deeprelax.experiments import jobs, trainer

    monkeypatch.setattr(R, "time", SimpleNamespace(time=lambda: 0.0))
    monkeypatch.setattr(jobs, "time", SimpleNamespace(time=lambda: 0.0))
    later = SimpleNamespace(time=lambda: 1e12, perf_counter=time.perf_counter)
    monkeypatch.setattr(trainer, "time", later)
    R.reproduce(["mnistfc"], ["sgd"], 1, tmp_path, data_dir=idx_dir, time_limit=60, **QUIET)
    monkeypatch.undo()
    summary = json.loads((R.run_dir(tmp_path, "mnistfc", "sgd", 0) / "summary.json").read_text())
    assert summary["status"] == "paused" and len(_rows(tmp_path, "sgd")) == 1
    R.reproduce(["mnistfc"], ["sgd"], 1, tmp_path, data_dir=idx_dir, time_limit=600, **QUIET)
    assert _rows(tmp_path, "sgd") == _rows(sequential, "sgd")


def test_time_limit_past_starts_nothing(tmp_path, idx_dir):
    from deeprelax.experiments.jobs import Task, run_one

    task = Task(
        "x", {"model": "mnistfc", "dataset": "mnist", "optim": "sgd", "budget": 1}, str(tmp_path)
    )
    assert run_one(task, stop_at=time.time() - 1, data_dir=idx_dir)[0] == "not started"
    assert not (tmp_path / "metrics.jsonl").exists()


def test_jobs_errors(tmp_path):
    with pytest.raises(ValueError, match="Invalid jobs value: 0"):
        R.reproduce(["mnistfc"], ["sgd"], 1, tmp_path, jobs=0)
    with pytest.raises(ValueError, match="Invalid time_limit value: -1"):
        R.reproduce(["mnistfc"], ["sgd"], 1, tmp_path, time_limit=-1)
