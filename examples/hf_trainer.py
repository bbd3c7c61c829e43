"""EntropySGD in the Hugging Face Trainer (through accelerate), with evaluation at the anchor x.

    python examples/hf_trainer.py [--epochs 5]

The Trainer calls optimizer.step() once per (accumulated) batch: closure-free mode makes that one
gradient evaluation; Trainer.evaluate() calls optimizer.eval(), which puts x into the model.
Nothing is downloaded: the model is defined here.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import torch
from torch import nn

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import transformers  # noqa: E402

from deeprelax.optim import EntropySGD, unwrap  # noqa: E402


class Data(torch.utils.data.Dataset):
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "labels": self.y[i]}


class Classifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 2))

    def forward(self, x, labels=None):
        logits = self.net(x)
        return {"loss": nn.functional.cross_entropy(logits, labels), "logits": logits}


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    x = torch.randn(2560, 20)
    y = (x[:, :10].sum(1) > 0).long()
    model = Classifier()
    opt = EntropySGD(model.parameters(), lr=0.5, L=10, gamma=0.03, closure_free=True)
    constant = torch.optim.lr_scheduler.LambdaLR(opt, lambda evaluation: 1.0)
    with tempfile.TemporaryDirectory() as out:
        targs = transformers.TrainingArguments(
            output_dir=out,
            num_train_epochs=args.epochs,
            per_device_train_batch_size=64,
            per_device_eval_batch_size=512,
            use_cpu=True,
            report_to=[],
            save_strategy="no",
            logging_strategy="no",
            disable_tqdm=True,
            seed=0,
            max_grad_norm=0.0,
        )
        trainer = transformers.Trainer(
            model=model,
            args=targs,
            train_dataset=Data(x[:2048], y[:2048]),
            eval_dataset=Data(x[2048:], y[2048:]),
            optimizers=(opt, constant),
        )
        trainer.train()
        metrics = trainer.evaluate()  # at x: the Trainer calls optimizer.eval()
    inner = unwrap(trainer.optimizer)  # trainer.optimizer is accelerate's wrapper
    print(
        f"{trainer.state.global_step} Trainer steps = {inner.grad_evals} gradient evaluations, "
        f"{inner.outer_steps} outer steps, eval loss at x {metrics['eval_loss']:.3f}"
    )
    return metrics["eval_loss"]


if __name__ == "__main__":
    main()
