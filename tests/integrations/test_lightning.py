"""Lightning 2.x with a closure-free EntropySGD: one fresh batch per gradient evaluation, validation
and checkpoints at the anchor x, the refusal of the same-batch setup, batch-norm refresh at x."""

from __future__ import annotations

import copy

import pytest
import torch

pl = pytest.importorskip("pytorch_lightning")

from deeprelax.integrations.lightning import RelaxationCallback  # noqa: E402
from deeprelax.optim import unwrap  # noqa: E402
from tests.integrations.lightning_support import BATCH, N_TRAIN, L, Recorder, trainer  # noqa: E402

BATCHES = N_TRAIN // BATCH


def fp16_plugin():
    from pytorch_lightning.plugins import MixedPrecision

    return MixedPrecision(
        "16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu", init_scale=256.0)
    )  # no overflow skip


CONFIGS = {
    "32-true": dict(precision="32-true"),
    "bf16-mixed": dict(precision="bf16-mixed"),
    "16-mixed+GradScaler": dict(plugins=[fp16_plugin]),
    "accumulate_grad_batches=2": dict(accumulate_grad_batches=2),
    "gradient_clip_val": dict(gradient_clip_val=0.01),
    "manual": dict(manual=True),
}


def fit(config: dict, **module_kw):
    config = dict(config)
    manual = config.pop("manual", False)
    if "plugins" in config:
        config["plugins"] = [make() for make in config["plugins"]]
    torch.manual_seed(0)
    module = Recorder(manual=manual, **module_kw)
    t = trainer(callbacks=[RelaxationCallback()], **config)
    t.fit(module)
    return module, t


@pytest.mark.parametrize("name", list(CONFIGS))
def test_one_fresh_batch_per_evaluation_and_validation_at_x(name):
    module, t = fit(CONFIGS[name])
    k = CONFIGS[name].get("accumulate_grad_batches", 1)
    opt = unwrap(t.optimizers[0])
    # every batch went through training_step exactly once: no replay of a batch
    assert len(module.seen) == 2 * BATCHES
    for epoch in range(2):
        indices = [
            i for _, _, idx in module.seen[epoch * BATCHES : (epoch + 1) * BATCHES] for i in idx
        ]
        assert sorted(indices) == list(range(N_TRAIN))
    # one gradient evaluation per k batches, the outer step on every L-th evaluation
    assert [e for e, _, _ in module.seen] == [i // k for i in range(2 * BATCHES)]
    assert opt.grad_evals == 2 * BATCHES // k == t.global_step
    assert [j for _, j, _ in module.seen] == [(i // k) % L for i in range(2 * BATCHES)]
    # validation ran mid-chain, at x
    assert module.validations[0]["inner_index"] != 0 or k > 1
    for v in module.validations:
        assert v["at_anchor"] and v["deviation"] == 0.0
    # after fit the model holds x, and the last validation's loss is the loss at x
    module.eval()
    x, y, _ = next(iter(module.val_dataloader()))
    dtype = {"bf16-mixed": torch.bfloat16, "16-mixed+GradScaler": torch.float16}.get(name)
    with (
        torch.no_grad(),
        torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None),
    ):
        at_x = float(torch.nn.functional.mse_loss(module(x), y))  # as validation computes it
    assert module.validations[-1]["loss"] == pytest.approx(at_x, rel=1e-6, abs=1e-7)
    assert float(t.callback_metrics["val_loss"]) == pytest.approx(at_x, rel=1e-6, abs=1e-7)


def test_validation_does_not_disturb_the_trajectory():
    with_val, _ = fit(CONFIGS["32-true"])
    torch.manual_seed(0)
    module = Recorder()
    trainer(callbacks=[RelaxationCallback()], limit_val_batches=0).fit(module)
    for a, b in zip(with_val.parameters(), module.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("manual", [False, True])
def test_not_closure_free_is_refused_at_fit_start(manual):
    module = Recorder(manual=manual, closure_free=False)
    with pytest.raises(ValueError, match="closure_free=True"):
        trainer(callbacks=[RelaxationCallback()]).fit(module)
    assert module.seen == []


def test_checkpoint_mid_chain_holds_x(tmp_path):
    from pytorch_lightning.callbacks import ModelCheckpoint

    anchors = {}

    class Spy(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if trainer.global_step == 5:
                opt = unwrap(trainer.optimizers[0])
                anchors.update(
                    {n: opt.state[p]["anchor"].clone() for n, p in pl_module.named_parameters()}
                )
                anchors["_point"] = next(pl_module.parameters()).detach().clone()

    torch.manual_seed(0)
    module = Recorder()
    ckpt = ModelCheckpoint(
        dirpath=tmp_path, every_n_train_steps=5, save_top_k=-1, filename="s{step}"
    )
    trainer(
        callbacks=[RelaxationCallback(), Spy(), ckpt], enable_checkpointing=True, max_epochs=1
    ).fit(module)
    saved = torch.load(tmp_path / "sstep=5.ckpt", weights_only=False)["state_dict"]
    assert 5 % L != 0  # mid-chain: the parameters held an inner point
    assert not torch.equal(anchors["_point"], anchors["net.0.weight"])
    for name, value in saved.items():
        assert torch.equal(value, anchors[name]), name


def test_batchnorm_refreshed_at_x_before_validation():
    from torch.optim.swa_utils import update_bn

    torch.manual_seed(0)
    module = Recorder(bn=True)
    t = trainer(callbacks=[RelaxationCallback(bn_loader="train")])
    t.fit(module)
    reference = copy.deepcopy(module)  # at x after fit: the same x as the last validation
    loader = [(x,) for x, _, _ in module.train_dataloader()]
    update_bn(loader, reference)
    refreshed = module.validations[-1]["running_mean"]
    assert torch.allclose(refreshed, reference.net[1].running_mean, atol=1e-6)
    assert not torch.allclose(refreshed, torch.zeros_like(refreshed))


def test_callback_arguments_are_validated():
    with pytest.raises(ValueError, match="bn_loader"):
        RelaxationCallback(bn_loader="val")
    with pytest.raises(ValueError, match="bn_batches"):
        RelaxationCallback(bn_batches=0)
