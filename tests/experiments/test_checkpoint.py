import pytest
import torch

from deeprelax.experiments.checkpoint import CHECKPOINT_FORMAT, load_checkpoint, save_checkpoint


def _save(path):
    return save_checkpoint(
        path,
        config={"model": "m", "dataset": "d", "optim": "sgd", "seed": 1},
        model_state={"w": torch.arange(3.0)},
        optimizer_state={"state": {}, "param_groups": []},
        progress={"grad_evals": 7},
    )


def test_round_trip_and_no_temporary_left(tmp_path):
    path = _save(tmp_path / "sub" / "ck.pt")
    blob = load_checkpoint(path)
    assert blob["format"] == CHECKPOINT_FORMAT
    assert blob["config"]["seed"] == 1
    assert torch.equal(blob["model_state"]["w"], torch.arange(3.0))
    assert blob["progress"]["grad_evals"] == 7
    assert [p.name for p in path.parent.iterdir()] == ["ck.pt"]


def test_missing_file_named(tmp_path):
    with pytest.raises(ValueError, match="nope.pt: checkpoint file not found"):
        load_checkpoint(tmp_path / "nope.pt")


def test_corrupt_file_named(tmp_path):
    path = _save(tmp_path / "ck.pt")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"ck\.pt: corrupt checkpoint"):
        load_checkpoint(path)


def test_foreign_file_rejected(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(ValueError, match=r"other\.pt: not a deeprelax checkpoint"):
        load_checkpoint(path)
    torch.save({"format": CHECKPOINT_FORMAT, "config": {}}, path)
    with pytest.raises(ValueError, match="lacks model_state, optimizer_state, progress"):
        load_checkpoint(path)
