"""Test problems and a paper-literal reference implementation of the relaxation optimizers.

The reference works on a list of tensors with plain arithmetic, one line per line of PAPER.md
§5; it shares nothing with the engine but the scoping formula, so agreement is evidence.
"""

from __future__ import annotations

import math

import torch

from deeprelax.optim import HJ, EntropySGD, Heat, ProxSGD

# The table that drives the common battery: (name, class, keywords).  Small L keeps tests fast.
OPTIMIZERS = [
    (
        "entropy_sgd",
        EntropySGD,
        dict(lr=0.05, L=4, gamma=0.5, scoping=0.1, noise=1e-2, weight_decay=1e-3),
    ),
    (
        "entropy_sgd_rho",
        EntropySGD,
        dict(lr=0.05, L=3, gamma=0.5, noise=1e-2, rho=0.5, nesterov=False),
    ),
    ("prox_sgd", ProxSGD, dict(lr=0.05, L=4, gamma=1.0, inner_lr=0.05, weight_decay=1e-3)),
    ("hj", HJ, dict(lr=0.05, L=3, gamma=5.0, scoping=0.05, weight_decay=1e-3)),
    ("heat", Heat, dict(lr=0.05, L=3, gamma=100.0, weight_decay=1e-3)),
]


class BatchStream:
    """Mini-batches sampled with replacement from a seeded generator (copyable, unlike a generator)."""

    def __init__(self, X, Y, batch, seed):
        self.X, self.Y, self.batch = X, Y, batch
        self.gen = torch.Generator().manual_seed(seed)

    def __iter__(self):
        return self

    def __next__(self):
        idx = torch.randint(0, len(self.X), (self.batch,), generator=self.gen)
        return self.X[idx], self.Y[idx]


class Problem:
    """A small regression net with a fixed data set and a seeded mini-batch stream."""

    def __init__(self, seed: int = 0, dtype: torch.dtype = torch.float64, batch: int = 8) -> None:
        g = torch.Generator().manual_seed(seed)
        self.X = torch.randn(64, 5, generator=g, dtype=dtype)
        self.Y = torch.sin(self.X @ torch.randn(5, 2, generator=g, dtype=dtype))
        self.dtype = dtype
        self.batch = batch

    def model(self, seed: int = 1) -> torch.nn.Module:
        torch.manual_seed(seed)
        return torch.nn.Sequential(
            torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 2)
        ).to(self.dtype)

    def batches(self, seed: int = 2) -> BatchStream:
        return BatchStream(self.X, self.Y, self.batch, seed)

    def closure(self, model, opt, stream, counter=None):
        def closure():
            opt.zero_grad()
            x, y = next(stream)
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            if counter is not None:
                counter.append(1)
            return loss

        return closure


def params_of(model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def assert_same(a, b, exact: bool = True, tol: float = 1e-12) -> None:
    for x, y in zip(a, b, strict=True):
        if exact:
            assert torch.equal(x, y), (x - y).abs().max()
        else:
            torch.testing.assert_close(x, y, rtol=tol, atol=tol)


def nag(d: torch.Tensor, buf: torch.Tensor | None, momentum: float, nesterov: bool):
    """Reference NAG: returns (update, new buffer)."""
    if momentum == 0:
        return d, None
    buf = d.clone() if buf is None else momentum * buf + d
    return (d + momentum * buf if nesterov else buf), buf


def reference_entropy_sgd(
    params,
    grad_at,
    steps,
    *,
    lr,
    momentum,
    nesterov,
    weight_decay,
    L,
    gamma,
    scoping,
    inner_lr,
    inner_momentum,
    noise,
    alpha,
    rho,
    generator,
):
    """PAPER.md §5.1 literally, on a list of tensors. ``grad_at(list) -> list`` draws a fresh batch."""
    x = [p.clone() for p in params]
    outer = [None] * len(x)
    for k in range(steps):
        g = gamma * (1 + scoping) ** k
        y = [t.clone() for t in x]
        mu = [t.clone() for t in x]
        inner = [None] * len(x)
        grad_x = None
        for i in range(L):
            gy = grad_at(y)
            if i == 0:
                grad_x = gy
            for j in range(len(x)):
                d = gy[j] + weight_decay * y[j] + g * (y[j] - x[j])
                upd, inner[j] = nag(d, inner[j], inner_momentum, nesterov and inner_momentum > 0)
                y[j] = y[j] - inner_lr * upd
                if noise > 0:
                    xi = torch.empty_like(y[j]).normal_(generator=generator)
                    y[j] = y[j] + math.sqrt(2 * inner_lr) * noise * xi
                mu[j] = (1 - alpha) * mu[j] + alpha * y[j]
        for j in range(len(x)):
            D = (x[j] - mu[j]) + rho * grad_x[j]
            upd, outer[j] = nag(D, outer[j], momentum, nesterov)
            x[j] = x[j] - lr * upd
    return x


def reference_hj(
    params, grad_at, steps, *, lr, momentum, nesterov, weight_decay, L, gamma, scoping, damping
):
    """PAPER.md §5.2 literally."""
    x = [p.clone() for p in params]
    outer = [None] * len(x)
    for k in range(steps):
        t = 1.0 / (gamma * (1 + scoping) ** k)
        gx = grad_at(x)
        p = [gx[j] + weight_decay * x[j] for j in range(len(x))]
        for _ in range(L):
            z = [x[j] - t * p[j] for j in range(len(x))]
            gz = grad_at(z)
            p = [
                (1 - damping) * p[j] + damping * (gz[j] + weight_decay * z[j])
                for j in range(len(x))
            ]
        for j in range(len(x)):
            upd, outer[j] = nag(p[j], outer[j], momentum, nesterov)
            x[j] = x[j] - lr * upd
    return x


def reference_heat(
    params, grad_at, steps, *, lr, momentum, nesterov, weight_decay, L, gamma, generator
):
    """PAPER.md §5.4 (the paper's meaning), with the first evaluation at x as deeprelax spends it."""
    x = [p.clone() for p in params]
    outer = [None] * len(x)
    for _ in range(steps):
        std = 1.0 / math.sqrt(gamma)
        grad_at(x)  # the evaluation at the anchor (loss and rho); not in the heat average
        total = [torch.zeros_like(t) for t in x]
        for _ in range(L):
            pts = [
                x[j] + std * torch.empty_like(x[j]).normal_(generator=generator)
                for j in range(len(x))
            ]
            g = grad_at(pts)
            total = [total[j] + g[j] for j in range(len(x))]
        for j in range(len(x)):
            D = total[j] / L + weight_decay * x[j]
            upd, outer[j] = nag(D, outer[j], momentum, nesterov)
            x[j] = x[j] - lr * upd
    return x
