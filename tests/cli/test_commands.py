import json

import pytest

from deeprelax.cli import main


def test_models_lists_names_and_counts(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "mnistfc" in out and "1,867,786" in out and "131,220" in out and "1,667,166" in out


@pytest.mark.parametrize("cmd", ["train", "reproduce", "demo", "models"])
def test_help(cmd, capsys):
    with pytest.raises(SystemExit) as exc:
        main([cmd, "--help"])
    assert exc.value.code == 0
    assert "usage: deeprelax " + cmd in capsys.readouterr().out


def test_train_writes_metrics_and_refuses_to_clobber(tmp_path, capsys):
    out = tmp_path / "run"
    argv = [
        "train",
        "--model",
        "mnistfc",
        "--optim",
        "entropy-sgd",
        "--L",
        "2",
        "--budget",
        "0.01",
        "--eval-every",
        "0.005",
        "--test-subset",
        "200",
        "--bn-refresh-batches",
        "2",
        "--out",
        str(out),
        "--quiet",
        "--telemetry",
        "--threads",
        "1",
        "--lr-schedule",
        "0:0.05",
    ]
    assert main(argv) == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2
    for key in (
        "effective_epochs",
        "grad_evals",
        "train_loss",
        "test_error",
        "lr",
        "wall_s",
        "telemetry",
    ):
        assert key in rows[0]
    assert (
        rows[-1]["lr"] == 0.05 and rows[-1]["grad_evals"] == 6
    )  # ceil(0.01 * 469) = 5 -> 3 steps of 2
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["hyper"]["L"] == 2 and summary["status"] == "finished"
    assert main(argv) == 1
    assert "checkpoint.pt exists; pass --resume" in capsys.readouterr().err


def test_train_rejects_hyper_parameter_the_optimizer_lacks(tmp_path, capsys):
    argv = [
        "train",
        "--model",
        "mnistfc",
        "--optim",
        "sgd",
        "--L",
        "3",
        "--budget",
        "1",
        "--out",
        str(tmp_path),
        "--quiet",
    ]
    assert main(argv) == 1
    assert "Invalid hyper-parameter for sgd: L" in capsys.readouterr().err


def _replica_argv(out, *extra):
    return [
        "train",
        "--model",
        "mnistfc",
        "--budget",
        "0.02",
        "--eval-every",
        "0.02",
        "--test-subset",
        "200",
        "--bn-refresh-batches",
        "2",
        "--out",
        str(out),
        "--quiet",
        "--threads",
        "1",
        *extra,
    ]


def test_train_parle_alone_is_one_replica_and_refuses_to_clobber(tmp_path, capsys):
    out = tmp_path / "parle"
    argv = _replica_argv(out, "--optim", "parle", "--L", "2", "--rho-max", "5")
    assert main(argv) == 0
    assert "mnistfc/parle (1 replicas)" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["config"]["replicas"] == 1
    assert summary["config"]["hyper"]["rho_max"] == 5 and summary["config"]["hyper"]["L"] == 2
    row = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert row["grad_evals_all_replicas"] == row["grad_evals"]
    assert main(argv) == 1
    assert "checkpoint.pt exists; pass --resume" in capsys.readouterr().err


def test_train_replica_flags_are_checked(tmp_path, capsys):
    assert main(_replica_argv(tmp_path / "a", "--optim", "sgd", "--shard")) == 1
    assert "Invalid shard value: True (only for elastic-sgd, parle)" in capsys.readouterr().err
    assert main(_replica_argv(tmp_path / "b", "--optim", "parle", "--damping", "0.3")) == 1
    assert "Invalid hyper-parameter for parle" in capsys.readouterr().err
    assert not (tmp_path / "b" / "checkpoint.pt").exists()
    for bad in ("-1", "nan", "inf"):
        assert main(_replica_argv(tmp_path / "c", "--optim", "sgd", "--lr", bad)) == 1
        assert f"Invalid lr value: {float(bad)}" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_former_replica_entry_points_to_deeprelax_train():
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "deeprelax.experiments.distributed", "--optim", "parle"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "-m deeprelax train --optim" in done.stderr
