import json
import math

import pytest
import torch
from torch import nn

from deeprelax.experiments.checkpoint import load_checkpoint
from deeprelax.experiments.optimizers import build_optimizer
from deeprelax.experiments.trainer import (
    LRSchedule,
    TrainConfig,
    Trainer,
    TrainingStopped,
    refresh_batchnorm,
)

N_TRAIN, BATCH = 200, 16  # 13 batches per epoch


def _data(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N_TRAIN + 60, 8, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
    return (x[:N_TRAIN], y[:N_TRAIN]), (x[N_TRAIN:], y[N_TRAIN:])


def _model():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(8, 16), nn.ReLU(), nn.BatchNorm1d(16), nn.Dropout(0.2), nn.Linear(16, 3)
    )


HYPER = {
    "sgd": {"momentum": 0.9},
    "entropy-sgd": {"L": 3, "noise": 1e-2, "gamma": 0.1},
    "hj": {"L": 2, "gamma": 10.0},
    "heat": {"L": 2, "gamma": 1e3},
}


def _trainer(optim, out_dir, until=None, budget=3.0, schedule="0:0.1,2:0.02"):
    model = _model()
    gen = torch.Generator().manual_seed(99)
    opt = build_optimizer(optim, model.parameters(), {"lr": 0.1, **HYPER[optim]}, gen)
    cfg = TrainConfig(
        budget=budget,
        lr_schedule=LRSchedule.parse(schedule),
        batch_size=BATCH,
        eval_every=1.0,
        until=until,
        quiet=True,
        seed=5,
    )
    train, test = _data()
    return Trainer(model, opt, train, test, cfg, out_dir, run_config={"optim": optim})


def _strip(rows):
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in rows]


@pytest.mark.parametrize("optim", ["sgd", "entropy-sgd", "hj", "heat"])
def test_resume_gives_the_same_metrics(tmp_path, optim):
    full = _trainer(optim, tmp_path / "full").run()
    paused = _trainer(optim, tmp_path / "split", until=1.0).run()
    assert paused["status"] == "paused" and len(paused["final"]) > 0
    resumed = _trainer(optim, tmp_path / "split").run(resume=True)
    assert full["status"] == resumed["status"] == "finished"
    rows_full = [
        json.loads(line) for line in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()
    ]
    rows_res = [
        json.loads(line) for line in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()
    ]
    assert len(rows_full) == 3
    assert _strip(rows_res) == _strip(rows_full)  # exact: same floats, same trajectory
    a = load_checkpoint(tmp_path / "full" / "checkpoint.pt")["model_state"]
    b = load_checkpoint(tmp_path / "split" / "checkpoint.pt")["model_state"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_effective_epochs_count_every_gradient_evaluation(tmp_path):
    t = _trainer("entropy-sgd", tmp_path)
    summary = t.run()
    # L = 3 evaluations per outer step; 13 batches per epoch; the budget is 3 epochs = 39 evals,
    # reached after 13 outer steps exactly.
    assert t.batches_per_epoch == math.ceil(N_TRAIN / BATCH) == 13
    assert summary["grad_evals"] == t.optimizer.grad_evals == t._evals == 39
    assert summary["steps"] == 13
    rows = t.metrics
    assert [r["grad_evals"] for r in rows] == [15, 27, 39]  # first step at or past each whole EE
    assert [r["effective_epochs"] for r in rows] == [round(g / 13, 6) for g in (15, 27, 39)]
    # the schedule switches to 0.02 at 2 EE: the step that crossed 2 EE ran with lr 0.1... the
    # recorded lr is the one of the last step taken
    assert rows[0]["lr"] == 0.1 and rows[-1]["lr"] == 0.02


def test_minibatches_are_fresh_for_every_evaluation(tmp_path):
    t = _trainer("entropy-sgd", None, budget=1.0)
    seen = []
    orig = t.model.forward

    def spy(x):
        seen.append(x.detach().clone())
        return orig(x)

    t.model.forward = spy
    t.config.bn_refresh_batches = 0
    t.run()
    train_batches = seen[: t._evals]
    assert len(train_batches) == 15
    assert all(not torch.equal(a, b) for a, b in zip(train_batches, train_batches[1:]))


def test_lr_schedule_parsing_and_errors():
    s = LRSchedule.parse("0:0.1,30:0.02,60:0.004")
    assert [s(0), s(29.99), s(30), s(100)] == [0.1, 0.1, 0.02, 0.004]
    assert LRSchedule.parse("0.05")(10) == 0.05
    for bad in ("5:0.1", "0:0.1,0:0.2", "0:x", "0:-1"):
        with pytest.raises(ValueError, match="Invalid lr_schedule value"):
            LRSchedule.parse(bad)


def test_config_errors():
    with pytest.raises(ValueError, match="Invalid budget value: 0"):
        TrainConfig(budget=0)
    with pytest.raises(ValueError, match="Invalid eval_every value: -1"):
        TrainConfig(budget=1, eval_every=-1)


def test_refresh_batchnorm_recomputes_statistics_with_dropout_off():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 6), nn.Dropout(0.5), nn.BatchNorm1d(6))
    x = torch.randn(64, 4)
    model[2].running_mean.fill_(5.0)
    fed = refresh_batchnorm(model, x, batch_size=64)
    assert fed == 1
    with torch.no_grad():
        h = model[0](x)  # dropout off: BN sees the clean activations
    assert torch.allclose(model[2].running_mean, h.mean(0), atol=1e-6)
    assert torch.allclose(model[2].running_var, h.var(0, unbiased=True), atol=1e-5)
    assert model[2].momentum == 0.1 and model.training
    assert refresh_batchnorm(model, x, batch_size=16, max_batches=2) == 2


def test_resume_refuses_other_configuration(tmp_path):
    _trainer("sgd", tmp_path, until=1.0).run()
    t = _trainer("sgd", tmp_path)
    t.run_config["optim"] = "other"
    with pytest.raises(
        ValueError, match="checkpoint.pt: made with a different configuration \\(optim differ\\)"
    ):
        t.run(resume=True)


def test_non_finite_loss_stops_cleanly_and_keeps_checkpoint(tmp_path):
    t = _trainer("sgd", tmp_path, budget=3.0)
    calls = {"n": 0}
    real_step = t.optimizer.step

    def step(closure):
        calls["n"] += 1
        if calls["n"] == 20:  # after the first evaluation at 13 steps
            raise FloatingPointError("non-finite loss nan")
        return real_step(closure)

    t.optimizer.step = step
    with pytest.raises(
        TrainingStopped, match="training stopped at 1.4.* effective epochs.*checkpoint kept"
    ):
        t.run()
    ck = load_checkpoint(tmp_path / "checkpoint.pt")
    assert ck["progress"]["grad_evals_counted"] == 13
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "diverged" and "nan" in summary["reason"]


@pytest.mark.parametrize("optim", ["sgd", "entropy-sgd"])
def test_real_nan_loss_from_optimizer_or_sgd_stops(tmp_path, optim):
    t = _trainer(optim, tmp_path, budget=3.0)
    calls = {"n": 0}

    def poisoned(out, y):
        calls["n"] += 1
        loss = torch.nn.functional.cross_entropy(out, y)
        return loss * float("nan") if calls["n"] > 20 else loss

    t.loss_fn = poisoned
    before = None
    with pytest.raises(TrainingStopped, match="effective epochs"):
        try:
            t.run()
        finally:
            before = [p.detach().clone() for p in t.model.parameters()]
    # Entropy-SGD raises NonFiniteLossError (a FloatingPointError) and leaves x finite
    if optim == "entropy-sgd":
        assert all(torch.isfinite(p).all() for p in before)
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "diverged"
    assert load_checkpoint(tmp_path / "checkpoint.pt")["progress"]["metrics"]
