"""The README's example runs as written (with a stand-in for the user's ``train_loader``)."""

from __future__ import annotations

import re
from pathlib import Path

import torch


def test_readme_example_runs_as_written(capsys):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## Example") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    torch.manual_seed(0)
    batches = [(torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,))) for _ in range(25)]
    namespace = {"train_loader": batches}
    exec(compile(code, "README.md", "exec"), namespace)
    opt = namespace["opt"]
    assert opt.grad_evals == 20 and opt.outer_steps == 1
    assert torch.isfinite(namespace["loss"])
    assert "20" in capsys.readouterr().out
