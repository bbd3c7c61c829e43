"""Small networks whose exact Hessian is affordable (torch.autograd.functional.hessian)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from deeprelax.analysis._functional import FlatLoss


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny problems: one thread avoids oversubscription on a shared machine (many times faster
    there); the previous setting is restored for other test areas."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def small_net(
    seed: int = 0, width: int = 32
) -> tuple[nn.Module, list[tuple[torch.Tensor, torch.Tensor]]]:
    """A 12-w-w-4 tanh MLP with one batch-norm layer (w = 32: 1,668 parameters), running
    statistics set by one pass in train mode, and 96 samples in two batches of 64 and 32."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Linear(12, width),
        nn.Tanh(),
        nn.BatchNorm1d(width),
        nn.Dropout(0.3),
        nn.Linear(width, width),
        nn.Tanh(),
        nn.Linear(width, 4),
    )
    x = torch.randn(96, 12, generator=g)
    y = torch.randint(0, 4, (96,), generator=g)
    model.train()
    with torch.no_grad():
        model(x)
    model.eval()
    return model, [(x[:64], y[:64]), (x[64:], y[64:])]


def exact_hessian(model, batches, bn_mode: str = "eval") -> torch.Tensor:
    fl = FlatLoss(model, F.cross_entropy, batches, dtype=torch.float64, bn_mode=bn_mode)

    def f(z):
        return sum(fl.batch_loss(z, i) for i in range(len(fl.batches)))

    return torch.autograd.functional.hessian(f, fl.x0, vectorize=True)


@pytest.fixture(scope="module")
def net():
    model, batches = small_net()
    H = exact_hessian(model, batches)
    evals, evecs = torch.linalg.eigh(H)
    return model, batches, H, evals.numpy(), evecs.numpy()


class Quadratic(nn.Module):
    """f(w) = 1/2 w'Aw as a 'model': the forward ignores its input; use with ``loss_of_output``."""

    def __init__(self, A: torch.Tensor, w: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("A", A.clone())
        self.w = nn.Parameter(w.clone())

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return 0.5 * self.w @ (self.A @ self.w)


def loss_of_output(out: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return out


DUMMY_BATCHES = [(torch.zeros(1, 1), torch.zeros(1))]


def rotated_spd(eigenvalues, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    n = len(eigenvalues)
    Q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    return Q @ torch.diag(torch.as_tensor(eigenvalues, dtype=torch.float64)) @ Q.T
