"""``deeprelax train --resume`` on a checkpoint.pt that is not this run's: one line on stderr
naming the file and the reason, exit status 1, the file left byte for byte as it was."""

import shutil

import numpy as np
import pytest
import torch
from untrusted_samples import Payload

from deeprelax.cli import main
from deeprelax.experiments.checkpoint import save_checkpoint


def _write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
    """A tiny MNIST in IDX files (48 training, 16 test images): the real --data-dir reader."""
    folder = tmp_path_factory.mktemp("mnist")
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 48), ("t10k", 16)):
        _write_idx(folder / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n))
    return folder


def _argv(mnist_dir, out, optim="sgd"):
    return [
        "train", "--model", "mnistfc", "--optim", optim, "--budget", "1", "--batch-size", "16",
        "--bn-refresh-batches", "1", "--quiet", "--threads", "1", "--device", "cpu",
        "--out", str(out), "--data-dir", str(mnist_dir),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def finished(mnist_dir, tmp_path_factory):
    """A real checkpoint of each trainer (plain and one-replica elastic-sgd), made once."""
    runs = {}
    for optim in ("sgd", "elastic-sgd"):
        out = tmp_path_factory.mktemp(optim)
        assert main(_argv(mnist_dir, out, optim)) == 0
        runs[optim] = out / "checkpoint.pt"
    return runs


def _payload(path, good):
    torch.save({"format": "deeprelax-checkpoint-v1", "config": Payload(path.parent / "M")}, path)


def _truncated(path, good):
    path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])


def _plain_state_dict(path, good):
    torch.save(torch.nn.Linear(2, 2).state_dict(), path)


def _other_model(path, good):
    blob = torch.load(good, weights_only=True)
    name = next(iter(blob["model_state"]))
    blob["model_state"][name] = torch.zeros(3, 3)
    if "replicas" in blob["progress"]:
        for replica in blob["progress"]["replicas"]:
            replica["model_state"][name] = torch.zeros(3, 3)
    save_checkpoint(path, **{k: blob[k] for k in blob if k != "format"})


def _no_progress_steps(path, good):
    blob = torch.load(good, weights_only=True)
    del blob["progress"]["steps"]
    save_checkpoint(path, **{k: blob[k] for k in blob if k != "format"})


CASES = {
    _payload: "refused to unpickle global posix.system",
    _truncated: "corrupt checkpoint, cannot be read",
    _plain_state_dict: "not a deeprelax checkpoint",
    _other_model: "made for another model (size mismatch for",
    _no_progress_steps: "cannot resume from this checkpoint (KeyError: 'steps')",
}


@pytest.mark.parametrize("optim", ["sgd", "elastic-sgd"])
@pytest.mark.parametrize("make", list(CASES), ids=[f.__name__.strip("_") for f in CASES])
def test_resume_on_a_bad_checkpoint_is_one_line_and_keeps_the_file(
    tmp_path, capsys, mnist_dir, finished, optim, make
):
    out = tmp_path / "run"
    out.mkdir()
    path = out / "checkpoint.pt"
    make(path, finished[optim])
    before = path.read_bytes()
    capsys.readouterr()
    assert main([*_argv(mnist_dir, out, optim), "--resume"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("deeprelax train: error: ") and str(path) in err, err
    assert CASES[make] in err, err
    assert path.read_bytes() == before
    assert not (tmp_path / "run" / "M").exists()
    assert not (out / "summary.json").exists()


def test_resume_on_a_good_checkpoint_still_works(tmp_path, capsys, mnist_dir, finished):
    out = tmp_path / "run"
    out.mkdir()
    shutil.copy(finished["sgd"], out / "checkpoint.pt")
    assert main([*_argv(mnist_dir, out), "--resume"]) == 0  # finished: nothing left to train
    assert "error" not in capsys.readouterr().err
    blob = torch.load(out / "checkpoint.pt", weights_only=True)
    assert [m["effective_epochs"] for m in blob["progress"]["metrics"]] == [1.0]
    assert (out / "summary.json").is_file()
