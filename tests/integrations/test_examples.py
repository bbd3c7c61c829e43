"""examples/lightning.py and examples/hf_trainer.py run (in this process) and learn."""

from __future__ import annotations

import os

import pytest

from tests.support.files import load_file


def load(name: str):
    return load_file(f"examples/{name}.py", f"example_{name}")


def test_lightning_example(capsys):
    pytest.importorskip("pytorch_lightning")
    error = load("lightning").main(["--epochs", "3"])
    out = capsys.readouterr().out
    assert "96 Lightning steps = 96 gradient evaluations, 9 outer steps, 3 effective epochs" in out
    assert error < 15.0  # a 50 % chance level; 5 epochs reach 4.1 %


def test_hf_trainer_example(capsys):
    os.environ["HF_HUB_OFFLINE"] = "1"
    pytest.importorskip("transformers")
    loss = load("hf_trainer").main(["--epochs", "3"])
    out = capsys.readouterr().out
    assert "96 Trainer steps = 96 gradient evaluations, 9 outer steps" in out
    assert loss < 0.3  # ln 2 = 0.69 at chance; 5 epochs reach 0.028
