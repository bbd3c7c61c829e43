import json

import numpy as np
import pytest
import torch

from deeprelax.experiments import grid
from deeprelax.experiments import reproduce as R


@pytest.fixture
def tiny_mnist(monkeypatch):
    """A 256-image MNIST-shaped data set, so the real models and optimizers run in a second."""
    g = torch.Generator().manual_seed(0)
    data = (
        (torch.rand(256, 1, 28, 28, generator=g), torch.randint(0, 10, (256,), generator=g)),
        (torch.rand(100, 1, 28, 28, generator=g), torch.randint(0, 10, (100,), generator=g)),
    )
    import deeprelax.experiments.data as D

    monkeypatch.setattr(D, "load_dataset", lambda name, data_dir=None, cache_dir=None: data)
    return data


def test_quick_grid_runs_writes_table_and_figure_then_skips(tmp_path, tiny_mnist, monkeypatch):
    methods = ["sgd", "entropy-sgd", "hj", "heat"]
    table, figures = R.reproduce(
        ["mnistfc"], methods, 1, tmp_path, quick=True, quiet=True, log=lambda *a, **k: None
    )
    for m in methods:
        summary = json.loads((tmp_path / "mnistfc" / m / "seed0" / "summary.json").read_text())
        assert summary["status"] == "finished"
        assert summary["effective_epochs"] >= grid.QUICK["budget"]
        assert summary["config"]["seed"] == 42
    assert [f.name for f in figures] == ["mnistfc_valid.png"]
    assert figures[0].stat().st_size > 10_000
    assert (tmp_path / "table.md").read_text() == table
    assert "Quick preset" in table and "1.08 ± 0.02 @ 120" in table
    assert table.count("| 1/1 |") == 4
    # a second call finds every run finished and trains nothing
    monkeypatch.setattr(R, "run_one", lambda *a, **k: pytest.fail("re-ran a finished run"))
    R.reproduce(["mnistfc"], methods, 1, tmp_path, quick=True, quiet=True, log=lambda *a, **k: None)


def _fake_run(tmp_path, model, method, seed, errors, finished=True):
    d = R.run_dir(tmp_path, model, method, seed)
    d.mkdir(parents=True)
    rows = [{"effective_epochs": float(i + 1), "test_error": e} for i, e in enumerate(errors)]
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (d / "summary.json").write_text(json.dumps({"status": "finished" if finished else "paused"}))


def test_table_statistics_and_time_to_reach_sgd(tmp_path):
    _fake_run(tmp_path, "lenet", "sgd", 0, [3.0, 2.0, 1.0])
    _fake_run(tmp_path, "lenet", "sgd", 1, [3.0, 2.0, 1.2])
    _fake_run(tmp_path, "lenet", "entropy-sgd", 0, [2.0, 1.0, 0.9])
    _fake_run(tmp_path, "lenet", "entropy-sgd", 1, [2.0, 1.2, 1.1], finished=False)
    text = R.write_table(tmp_path, ["lenet"], ["sgd", "entropy-sgd", "hj"], 2, "head")
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}
    # SGD final: mean of 1.0 and 1.2 = 1.10, sample std 0.1414
    assert f"{np.mean([1.0, 1.2]):.2f} ± {np.std([1.0, 1.2], ddof=1):.2f} @ 3.0" in rows["sgd"]
    # Entropy-SGD's seed-mean curve (2.0, 1.1, 1.0) first drops to <= 1.10 at 2 EE
    assert rows["entropy-sgd"].split("|")[6].strip() == "2.0"
    # common EE = 3 (every method with runs reached it): Entropy-SGD 0.9 and 1.1
    assert rows["entropy-sgd"].split("|")[5].strip() == "1.00 ± 0.14"
    assert "1/2, partial" in rows["entropy-sgd"]
    assert "0/2 | not run" in rows["hj"]
    assert "0.50 ± 0.01 @ 70" in rows["hj"]


def test_grid_spec_choices_and_errors():
    spec = grid.grid_spec("mnistfc", "entropy-sgd", 2)
    assert spec.budget == 200 and spec.seed == 44 and spec.hyper["L"] == 20
    assert spec.lr_schedule == grid.LR_SCHEDULES["mnistfc"]
    assert grid.grid_spec("allcnn", "sgd", 0).hyper["weight_decay"] == 1e-3
    assert grid.grid_spec("mnistfc", "hj", 0, quick=True).hyper["L"] == 4
    with pytest.raises(ValueError, match="Invalid method value: 'adam'"):
        grid.grid_spec("mnistfc", "adam", 0)
    with pytest.raises(ValueError, match="Invalid seeds value: 0"):
        R.reproduce(["mnistfc"], ["sgd"], 0, "unused")


def test_common_column_matches_evaluation_slots(tmp_path):
    # Entropy-SGD evaluates at 1.02, 2.004 EE (whole outer steps), SGD at 1, 2, 3: the common
    # point is Entropy-SGD's last evaluation, matched to SGD's evaluation at 2.0, not at 3.0.
    _fake_run(tmp_path, "mnistfc", "sgd", 0, [3.0, 2.0, 1.0])
    d = R.run_dir(tmp_path, "mnistfc", "entropy-sgd", 0)
    d.mkdir(parents=True)
    rows = [
        {"effective_epochs": 1.02, "test_error": 2.5},
        {"effective_epochs": 2.004, "test_error": 1.5},
    ]
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    text = R.write_table(tmp_path, ["mnistfc"], ["sgd", "entropy-sgd"], 1, "head")
    cells = {
        line.split("|")[1].strip(): line.split("|")
        for line in text.splitlines()
        if line.startswith("| ")
    }
    assert "error % @ 2.0 EE" in text
    assert cells["sgd"][5].strip() == "2.00" and cells["entropy-sgd"][5].strip() == "1.50"


def test_scale_compresses_budget_schedule_and_scoping():
    full = grid.grid_spec("mnistfc", "entropy-sgd", 0)
    spec = grid.grid_spec("mnistfc", "entropy-sgd", 0, scale=0.1)
    assert spec.budget == pytest.approx(20.0)
    assert spec.lr_schedule == "0:0.1,10:0.02,15:0.004"
    assert spec.hyper["scoping"] == pytest.approx(full.hyper["scoping"] / 0.1)
    # the scoped coupling at the end of the budget matches the full protocol's within 1 %
    steps_full, steps = full.budget * 469 / 20, spec.budget * 469 / 20
    g_full = full.hyper["gamma"] * (1 + full.hyper["scoping"]) ** steps_full
    g = spec.hyper["gamma"] * (1 + spec.hyper["scoping"]) ** steps
    assert g == pytest.approx(g_full, rel=0.05)
    assert grid.grid_spec("lenet", "sgd", 0, scale=0.5).lr_schedule == "0:0.1,25:0.02,37.5:0.004"
    assert "scoping" not in grid.grid_spec("mnistfc", "hj", 0, scale=0.1).hyper
    for bad in (0, -0.1, 1.5):
        with pytest.raises(ValueError, match="Invalid scale value"):
            grid.grid_spec("mnistfc", "sgd", 0, scale=bad)


def test_replica_methods_in_the_grid(tmp_path, tiny_mnist, monkeypatch):
    table, _ = R.reproduce(
        ["mnistfc"],
        ["sgd", "parle"],
        1,
        tmp_path,
        quick=True,
        quiet=True,
        log=lambda *a, **k: None,
    )
    summary = json.loads((tmp_path / "mnistfc" / "parle" / "seed0" / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["config"]["replicas"] == 1
    assert summary["config"]["hyper"]["L"] == 4
    assert "| parle | 1/1 |" in table
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="Invalid methods value: sgd under torchrun"):
        R.reproduce(["mnistfc"], ["sgd", "parle"], 1, tmp_path, quick=True, quiet=True)
