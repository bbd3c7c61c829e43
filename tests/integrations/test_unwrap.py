"""unwrap() through accelerate's and Lightning's wrappers; replicas_agree with one process."""

from __future__ import annotations

import pytest
import torch

from deeprelax.optim import EntropySGD, replica_deviation, replicas_agree, unwrap


def test_unwrap_reaches_the_relaxed_optimizer_through_wrappers():
    accelerate = pytest.importorskip("accelerate")
    pl = pytest.importorskip("pytorch_lightning")
    accelerator = accelerate.Accelerator(cpu=True)
    model = torch.nn.Linear(3, 1)
    opt = EntropySGD(model.parameters(), L=2, closure_free=True)
    accelerated = accelerator.prepare_optimizer(opt)
    assert isinstance(accelerated, accelerate.optimizer.AcceleratedOptimizer)
    assert not hasattr(accelerated, "inner_index") and unwrap(accelerated) is opt
    lightning = pl.core.optimizer.LightningOptimizer(accelerated)
    assert unwrap(lightning) is opt
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    assert unwrap(sgd) is sgd and unwrap(accelerator.prepare_optimizer(sgd)) is sgd


def test_unwrap_refuses_what_is_no_optimizer():
    with pytest.raises(ValueError, match="Invalid optimizer value"):
        unwrap(object())

    class Loop:
        pass

    loop = Loop()
    loop.optimizer = loop
    with pytest.raises(ValueError, match="Invalid optimizer value"):
        unwrap(loop)


def test_replicas_agree_in_one_process():
    params = [torch.randn(3), torch.randn(2, 2)]
    assert replicas_agree(params) and replica_deviation(params) == 0.0
    with pytest.raises(ValueError, match="atol"):
        replicas_agree(params, atol=-1.0)
