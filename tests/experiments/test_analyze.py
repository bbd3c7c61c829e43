"""`deeprelax analyze`: end to end on a tiny data subset, and its error messages."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from deeprelax import cli, figures
from deeprelax.experiments import analyze
from deeprelax.experiments.checkpoint import save_checkpoint

# Stand-ins for the paper's networks, small enough for a fast test (the real mnistfc has 1.87M
# parameters, where one Hessian-vector product alone costs ~0.1 s on one core).
FAKE_MODELS = {
    "mnistfc": lambda: nn.Sequential(
        nn.Flatten(), nn.Linear(784, 16), nn.ReLU(), nn.BatchNorm1d(16), nn.Linear(16, 10)
    ),
    "lenet": lambda: nn.Sequential(nn.Flatten(), nn.Linear(784, 8), nn.ReLU(), nn.Linear(8, 10)),
}
FAKE_D = 784 * 16 + 16 + 32 + 16 * 10 + 10


def _fake_mnist(name, data_dir=None, cache_dir=None):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (64,), generator=g)
    return (x, y), (x[:32], y[:32])


def _ckpt(path, model_name="mnistfc", seed=0, state_model=None, optim="sgd"):
    torch.manual_seed(seed)
    model = FAKE_MODELS[state_model or model_name]()
    config = {"model": model_name, "dataset": "mnist", "optim": optim, "seed": seed}
    save_checkpoint(
        path, config=config, model_state=model.state_dict(), optimizer_state={}, progress={}
    )
    return path


SMALL = [
    "--batches", "1", "--batch-size", "32", "--k", "2", "--probes", "1", "--lanczos-steps", "4",
    "--trace-probes", "2", "--chains", "2", "--langevin-steps", "3", "--entropy-samples", "2",
]  # fmt: skip


@pytest.fixture
def fake_data(monkeypatch):
    monkeypatch.setattr(analyze, "load_dataset", _fake_mnist)
    monkeypatch.setattr(analyze, "build_model", lambda name: FAKE_MODELS[name]())
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_analyze_writes_json_and_figures(tmp_path, fake_data, capsys):
    a = _ckpt(tmp_path / "a" / "checkpoint.pt", seed=0)
    b = _ckpt(tmp_path / "b" / "checkpoint.pt", seed=1, optim="entropy-sgd")
    out = tmp_path / "out"
    rc = cli.main(
        ["analyze", str(a), "--out", str(out), "--other", str(b), "--bottom", "1", *SMALL]
    )
    assert rc == 0
    report = json.loads((out / "analysis.json").read_text())
    assert report["num_params"] == FAKE_D and report["num_examples"] == 32
    top = report["top_eigenvalues"]
    assert len(top) == 2 and top[0] >= top[1]
    assert len(report["bottom_eigenvalues"]) == 1 and report["bottom_eigenvalues"][0] < top[1]
    # the Hessian's top eigenvalue bounds every Rayleigh quotient, hence the trace per dimension
    assert (
        top[0] * report["num_params"] >= report["trace"]["estimate"] - 4 * report["trace"]["stderr"]
    )
    it = report["interpolation"]
    assert len(it["alphas"]) == len(it["train_loss"]) == 21
    assert it["train_loss"][0] == pytest.approx(report["loss"], rel=1e-5)  # alpha = 0: A itself
    for name in ("density.png", "top_eigenvalues.png", "interpolation.png"):
        assert (out / name).stat().st_size > 1000
    assert "top eigenvalue" in capsys.readouterr().out
    paths = figures.plot_reports({"A": report, "B": report}, tmp_path, prefix="cmp_")
    assert [p.split("/")[-1] for p in paths] == [
        "cmp_density.png", "cmp_top_eigenvalues.png", "cmp_interpolation.png"
    ]  # fmt: skip
    assert all((tmp_path / p.split("/")[-1]).stat().st_size > 1000 for p in paths)


def test_analyze_errors(tmp_path, fake_data, capsys):
    wrong = _ckpt(tmp_path / "w.pt", model_name="mnistfc", state_model="lenet")
    assert cli.main(["analyze", str(wrong), "--out", str(tmp_path / "o"), *SMALL]) == 1
    err = capsys.readouterr().err
    assert "w.pt does not match the model" in err and "another model" in err

    a = _ckpt(tmp_path / "a.pt")
    lenet = _ckpt(tmp_path / "l.pt", model_name="lenet")
    assert cli.main(["analyze", str(a), "--out", str(tmp_path / "o"), "--other", str(lenet)]) == 1
    assert "l.pt: a checkpoint of model 'lenet'" in capsys.readouterr().err

    assert cli.main(["analyze", str(a), "--out", str(tmp_path / "o"), "--k", "0"]) == 1
    assert "Invalid --k value: 0" in capsys.readouterr().err
    assert cli.main(["analyze", str(a), "--out", str(tmp_path / "o"), "--bottom", "-1"]) == 1
    assert "Invalid --bottom value: -1" in capsys.readouterr().err
    args = [str(a), "--out", str(tmp_path / "o"), "--k", str(FAKE_D), *SMALL[:4]]
    assert cli.main(["analyze", *args]) == 1
    msg = f"Invalid --k value: {FAKE_D} (the model has {FAKE_D} parameters)"
    assert msg in capsys.readouterr().err
    assert cli.main(["analyze", str(a), "--out", str(tmp_path / "o"), "--batches", "100"]) == 1
    assert "Invalid --batches value: 100 x 250 exceeds the 64 examples" in capsys.readouterr().err

    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    assert cli.main(["analyze", str(tmp_path / "junk.pt"), "--out", str(tmp_path / "o")]) == 1
    assert "junk.pt: corrupt checkpoint" in capsys.readouterr().err
