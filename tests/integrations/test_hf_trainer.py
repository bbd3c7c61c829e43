"""transformers.Trainer (through accelerate's AcceleratedOptimizer) with closure-free relaxation
optimizers: one fresh batch per gradient evaluation, evaluate() at the anchor x, frozen and empty
groups, ``optimizers=(opt, scheduler)`` and ``optimizer_cls_and_kwargs``.  Nothing is downloaded."""

from __future__ import annotations

import os

import pytest
import torch
from torch import nn

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")

from deeprelax.optim import EntropySGD, unwrap  # noqa: E402

N_TRAIN, BATCH, L = 48, 8, 5


class Data(torch.utils.data.Dataset):
    def __init__(self, n: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 4, generator=g)
        self.y = self.x[:, :1] - 0.5 * self.x[:, 1:2]

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "labels": self.y[i], "idx": i}


class Tiny(nn.Module):
    """A regression model in the Trainer's calling convention; it logs what each call saw."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(4, 16)
        self.frozen = nn.Linear(16, 16)
        self.frozen.requires_grad_(False)
        self.head = nn.Linear(16, 1)
        self.opt = None
        self.seen: list[tuple[int, list[int]]] = []
        self.evals: list[tuple[bool, float]] = []

    def forward(self, x, labels=None, idx=None):
        out = self.head(torch.tanh(self.frozen(torch.tanh(self.body(x)))))
        loss = nn.functional.mse_loss(out, labels)
        opt = unwrap(self.opt)
        if self.training:
            self.seen.append((opt.grad_evals, idx.tolist()))
        else:
            dev = max(
                float((p - opt.state[p]["anchor"]).abs().max())
                for p in self.parameters()
                if p.requires_grad
            )
            self.evals.append((opt.at_anchor, dev))
        return {"loss": loss, "logits": out}


def args(tmp_path, **kw):
    options = dict(
        output_dir=str(tmp_path),
        per_device_train_batch_size=BATCH,
        per_device_eval_batch_size=16,
        num_train_epochs=2,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
        seed=0,
        dataloader_num_workers=0,
        remove_unused_columns=False,
    )
    options.update(kw)
    return transformers.TrainingArguments(**options)


def check_run(model, trainer, k: int) -> None:
    opt = unwrap(trainer.optimizer)
    assert isinstance(opt, EntropySGD) and opt is not trainer.optimizer  # through accelerate
    batches = 2 * N_TRAIN // BATCH
    assert len(model.seen) == batches
    for epoch in range(2):
        rows = [i for _, idx in model.seen[epoch * 6 : (epoch + 1) * 6] for i in idx]
        assert sorted(rows) == list(range(N_TRAIN))  # each sample once per epoch: fresh batches
    assert [e for e, _ in model.seen] == [i // k for i in range(batches)]
    assert opt.grad_evals == batches // k == trainer.state.global_step


@pytest.mark.parametrize("k", [1, 2])
def test_optimizers_tuple_with_frozen_and_empty_groups_and_evaluate_at_x(tmp_path, k):
    torch.manual_seed(0)
    model = Tiny()
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = EntropySGD(
        [{"params": trainable}, {"params": []}, {"params": list(model.frozen.parameters())}],
        lr=0.05,
        L=L,
        gamma=0.03,
        noise=1e-3,
        closure_free=True,
    )
    model.opt = opt
    scheduler = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    trainer = transformers.Trainer(
        model=model,
        args=args(tmp_path, gradient_accumulation_steps=k),
        train_dataset=Data(N_TRAIN, 0),
        eval_dataset=Data(16, 1),
        optimizers=(opt, scheduler),
    )
    trainer.train()
    check_run(model, trainer, k)
    assert opt.inner_index != 0  # 12 / k evaluations, L = 5: training ends mid-chain
    metrics = trainer.evaluate()
    assert model.evals and all(at and dev == 0.0 for at, dev in model.evals)
    x, y = Data(16, 1).x, Data(16, 1).y
    with torch.no_grad():  # the Trainer left x in place (optimizer.eval()); the loss at x by hand
        at_x = float(
            nn.functional.mse_loss(
                model.head(torch.tanh(model.frozen(torch.tanh(model.body(x))))), y
            )
        )
    assert metrics["eval_loss"] == pytest.approx(at_x, rel=1e-6)
    assert model.frozen.weight.grad is None


def test_optimizer_cls_and_kwargs(tmp_path):
    torch.manual_seed(0)
    model = Tiny()
    # the Trainer passes these kwargs as they are: its learning_rate does not reach the class
    kwargs = dict(lr=0.05, L=L, gamma=0.03, noise=1e-3, closure_free=True)
    trainer = transformers.Trainer(
        model=model,
        args=args(tmp_path, learning_rate=0.5, weight_decay=1e-4),
        train_dataset=Data(N_TRAIN, 0),
        optimizer_cls_and_kwargs=(EntropySGD, kwargs),
    )
    trainer.create_optimizer()
    model.opt = trainer.optimizer
    trainer.train()
    opt = unwrap(trainer.optimizer)
    assert opt.param_groups[0]["initial_lr"] == pytest.approx(0.05)  # kwargs' lr, not learning_rate
    assert opt.param_groups[0]["lr"] == 0.0  # its linear schedule, stepped once per evaluation
    assert {g["weight_decay"] for g in opt.param_groups} == {0.0, 1e-4}  # its decay/no-decay groups
    check_run(model, trainer, 1)
