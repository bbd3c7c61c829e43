"""A plain PyTorch training loop with Entropy-SGD in place of torch.optim.SGD.

The only change from an SGD loop: ``step`` takes a closure that draws a FRESH minibatch, runs the
forward and backward pass and returns the loss. The optimizer calls it ``opt.evals_per_step``
times per step (moving the weights to each inner point first), so cost is counted in gradient
evaluations (``opt.grad_evals``) and compared in effective epochs = grad_evals / batches per epoch.

    python examples/plain_loop.py            # about a minute on one CPU core
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from deeprelax.experiments import evaluate, load_dataset, refresh_batchnorm
from deeprelax.optim import EntropySGD


def main(effective_epochs: float = 1.0, batch_size: int = 128) -> None:
    torch.manual_seed(0)
    (x, y), test = load_dataset("mnist")  # 60k/10k, pixels in [0, 1), no download
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.BatchNorm1d(256), nn.Linear(256, 10)
    )
    opt = EntropySGD(model.parameters(), lr=0.1, momentum=0.9, L=5, gamma=1e-3, noise=1e-4)
    sampler = torch.Generator().manual_seed(0)
    batches_per_epoch = math.ceil(len(x) / batch_size)

    def closure() -> torch.Tensor:
        idx = torch.randint(len(x), (batch_size,), generator=sampler)  # fresh minibatch each call
        opt.zero_grad()
        loss = F.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        return loss

    while opt.grad_evals < effective_epochs * batches_per_epoch:
        loss = opt.step(closure)  # the loss at the anchor x
        if opt.outer_steps % 20 == 0:
            print(f"{opt.grad_evals / batches_per_epoch:5.2f} EE  loss {float(loss):.4f}")

    # BN running statistics were last updated at the inner iterates y; recompute them at x.
    refresh_batchnorm(model, x, batch_size)
    test_loss, test_error = evaluate(model, test)
    print(
        f"after {opt.grad_evals / batches_per_epoch:.2f} effective epochs: test error {test_error:.2f} %"
    )


if __name__ == "__main__":
    main()
