"""The loss of a model over fixed batches as a function of one flat weight vector.

Every diagnostic in :mod:`deeprelax.analysis` works on

.. math::  f(x) = \\sum_b \\frac{n_b}{N}\\, \\ell\\big(h(x; X_b), Y_b\\big),\\qquad N=\\sum_b n_b,

the size-weighted mean of ``loss_fn`` over the given batches (``loss_fn`` must return the *mean*
loss of a batch, as ``torch.nn.functional.cross_entropy`` does), with :math:`x\\in\\mathbb R^d` the
trainable parameters flattened in ``model.named_parameters()`` order. The model itself is never
modified: parameters and buffers are copied (and cast to ``dtype``) and fed through
:func:`torch.func.functional_call`.

Batch norm: ``bn_mode="eval"`` (default) uses the running statistics, so ``f`` is a deterministic
function of ``x`` and of each sample separately; ``bn_mode="train"`` normalizes with the statistics
of each batch (running statistics are updated on copies only). Dropout is always off.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager

import torch
from torch import Tensor, nn
from torch.func import functional_call

Batch = tuple[Tensor, Tensor]
LossFn = Callable[[Tensor, Tensor], Tensor]

_BN_TYPES = (nn.modules.batchnorm._BatchNorm,)


def check_bn_mode(bn_mode: str) -> None:
    if bn_mode not in ("eval", "train"):
        raise ValueError(f"Invalid bn_mode value: {bn_mode!r} (choose 'eval' or 'train')")


def check_dtype(dtype: torch.dtype | None) -> None:
    if dtype not in (None, torch.float32, torch.float64):
        raise ValueError(f"Invalid dtype value: {dtype} (choose torch.float32 or torch.float64)")


@contextmanager
def module_modes(model: nn.Module, bn_mode: str) -> Iterator[None]:
    """Every module in eval mode (dropout off), batch-norm layers in ``bn_mode``; restored after."""
    saved = [(m, m.training) for m in model.modules()]
    try:
        for m in model.modules():
            m.training = bn_mode == "train" and isinstance(m, _BN_TYPES)
        yield
    finally:
        for m, training in saved:
            m.training = training


def materialize_batches(batches: Iterable[Batch]) -> list[Batch]:
    """The batches as a list of ``(inputs, targets)`` pairs; clear errors for empty or bad input."""
    if isinstance(batches, tuple) and len(batches) == 2 and isinstance(batches[0], Tensor):
        raise ValueError(
            "Invalid batches value: a single (inputs, targets) pair; pass a list of pairs, e.g. [(X, Y)]"
        )
    out = []
    for i, batch in enumerate(batches):
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
            raise ValueError(f"Invalid batches value: batch {i} is not an (inputs, targets) pair")
        inputs, targets = batch
        if not isinstance(inputs, Tensor) or not isinstance(targets, Tensor):
            raise ValueError(f"Invalid batches value: batch {i} does not hold tensors")
        if inputs.shape[0] == 0 or inputs.shape[0] != targets.shape[0]:
            raise ValueError(
                f"Invalid batches value: batch {i} has {inputs.shape[0]} inputs and "
                f"{targets.shape[0]} targets (need the same positive number)"
            )
        out.append((inputs, targets))
    if not out:
        raise ValueError("Invalid batches value: empty (need at least one (inputs, targets) batch)")
    return out


def check_state_dict(
    model: nn.Module, state_dict: Mapping[str, Tensor], source: str = "state_dict"
) -> None:
    """Raise a ValueError naming ``source`` if ``state_dict`` does not fit ``model`` exactly."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    if missing or unexpected:
        raise ValueError(
            f"{source} does not match the model: missing keys {missing[:5]}"
            f"{'...' if len(missing) > 5 else ''}, unexpected keys {unexpected[:5]}"
            f"{'...' if len(unexpected) > 5 else ''} (a checkpoint of another model?)"
        )
    for k, v in own.items():
        other = state_dict[k]
        if not isinstance(other, Tensor) or tuple(other.shape) != tuple(v.shape):
            shape = tuple(other.shape) if isinstance(other, Tensor) else type(other).__name__
            raise ValueError(
                f"{source} does not match the model: {k} has shape {shape}, the model expects "
                f"{tuple(v.shape)} (a checkpoint of another model?)"
            )


def check_finite(named: Iterable[tuple[str, Tensor]]) -> None:
    """``ValueError`` naming the first floating tensors that hold a NaN or an infinity."""
    bad = [
        f"{name} ({int((~torch.isfinite(t)).sum())} of {t.numel()} entries)"
        for name, t in named
        if t.is_floating_point() and not bool(torch.isfinite(t).all())
    ]
    if bad:
        raise ValueError(
            f"NaN or infinity in {', '.join(bad[:3])}{' ...' if len(bad) > 3 else ''}: "
            "the loss landscape is not defined there"
        )


class FlatLoss:
    """``f(x)`` of the module docstring, with ``x`` one flat tensor of ``num_params`` entries.

    Args:
        model: the network; only read.
        loss_fn: ``loss_fn(outputs, targets) -> scalar``, the mean loss of a batch.
        batches: non-empty iterable of ``(inputs, targets)``; kept in memory.
        dtype: ``torch.float32`` or ``torch.float64`` for the computation (default: the model's).
        bn_mode: ``"eval"`` or ``"train"`` (see module docstring).
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        batches: Iterable[Batch],
        dtype: torch.dtype | None = None,
        bn_mode: str = "eval",
    ) -> None:
        check_bn_mode(bn_mode)
        check_dtype(dtype)
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        if not named:
            raise ValueError("Invalid model: it has no trainable parameters")
        self.model, self.loss_fn, self.bn_mode = model, loss_fn, bn_mode
        self.dtype = dtype or named[0][1].dtype
        self.device = named[0][1].device
        self.names = [n for n, _ in named]
        self.shapes = [p.shape for _, p in named]
        self.numels = [p.numel() for _, p in named]
        self.num_params = sum(self.numels)
        self.x0 = torch.cat([p.detach().reshape(-1) for _, p in named]).to(self.dtype).clone()
        self.buffers = {
            n: (b.detach().to(self.dtype) if b.is_floating_point() else b.detach()).clone()
            for n, b in model.named_buffers()
        }
        self.batches = [(self._cast(x), y.to(self.device)) for x, y in materialize_batches(batches)]
        check_finite(
            [*named, *model.named_buffers()]
            + [(f"batch {i} inputs", x) for i, (x, _) in enumerate(self.batches)]
        )
        total = sum(x.shape[0] for x, _ in self.batches)
        self.weights = [x.shape[0] / total for x, _ in self.batches]
        self.num_samples = total

    def _cast(self, x: Tensor) -> Tensor:
        x = x.to(self.device)
        return x.to(self.dtype) if x.is_floating_point() else x

    def unflatten(self, flat: Tensor) -> dict[str, Tensor]:
        parts = torch.split(flat, self.numels)
        return {n: t.view(s) for n, t, s in zip(self.names, parts, self.shapes)}

    def outputs(
        self, flat: Tensor, inputs: Tensor, buffers: Mapping[str, Tensor] | None = None
    ) -> Tensor:
        bufs = self.buffers if buffers is None else buffers
        if self.bn_mode == "train":  # batch statistics update the running buffers: use copies
            bufs = {k: v.clone() for k, v in bufs.items()}
        with module_modes(self.model, self.bn_mode):
            return functional_call(self.model, {**bufs, **self.unflatten(flat)}, (inputs,))

    def batch_loss(self, flat: Tensor, index: int) -> Tensor:
        inputs, targets = self.batches[index]
        return self.loss_fn(self.outputs(flat, inputs), targets) * self.weights[index]

    def loss(self, flat: Tensor | None = None) -> Tensor:
        """``f(flat)`` (default: at the model's weights), without gradient."""
        flat = self.x0 if flat is None else flat
        with torch.no_grad():
            return sum(self.batch_loss(flat, i) for i in range(len(self.batches)))

    def loss_and_grad(self, flat: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(f(flat), grad f(flat))`` by reverse mode, one forward+backward per batch."""
        flat = self.x0 if flat is None else flat
        total, grad = torch.zeros((), dtype=self.dtype, device=self.device), torch.zeros_like(flat)
        for i in range(len(self.batches)):
            with torch.enable_grad():
                z = flat.detach().requires_grad_(True)
                value = self.batch_loss(z, i)
                (g,) = torch.autograd.grad(value, z)
            total, grad = total + value.detach(), grad + g
        return total, grad

    def check_vector(self, vector: Tensor, name: str = "vector") -> Tensor:
        if not isinstance(vector, Tensor) or vector.numel() != self.num_params:
            got = tuple(vector.shape) if isinstance(vector, Tensor) else type(vector).__name__
            raise ValueError(f"Invalid {name} value: shape {got}, expected ({self.num_params},)")
        return vector.reshape(-1).to(device=self.device, dtype=self.dtype)
