"""Noise and telemetry of the relaxation engine (a mixin of ``RelaxedOptimizer``)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from deeprelax.optim import _dtensor, _rng
from deeprelax.optim._tensor_ops import ListOps

if TYPE_CHECKING:
    from deeprelax.optim._engine import Chain


class NoiseMixin:
    """Gaussian draws from the optimizer's generator (per shard under FSDP2), and telemetry."""

    generator: torch.Generator | None
    _own_generator: bool
    _outer: dict[str, Any]

    def _rng(self, device: torch.device) -> torch.Generator:
        """The noise generator, on ``device`` (a default one follows the parameters)."""
        if self.generator is None:
            self.generator, self._own_generator = _rng.new_generator(device), True
        if not _rng.same_device(self.generator.device, device):
            if not self._own_generator:
                raise ValueError(
                    f"Invalid generator value: a generator on {self.generator.device} for parameters "
                    f"on {device} (the model moved after the optimizer was built with it)"
                )
            self.generator = _rng.moved_generator(self.generator, device)
        return self.generator

    def _add_noise(self, chain: Chain, std: float) -> None:
        """y <- y + std * N(0, I), drawn in the state dtype from the optimizer's generator."""
        noise = self.work("noise", chain.points)
        self._normal_(chain, noise)
        chain.ops.add_(chain.points, noise, alpha=std)
        if self.telemetry:
            self._tele["noise_sq"] = self._tele.get(
                "noise_sq", 0.0
            ) + std**2 * chain.ops.sum_of_squares(noise)

    def _normal_(self, chain: Chain, tensors: list[Tensor]) -> None:
        """Fill ``tensors`` with N(0, 1) draws; DTensor shards from their own stream (_dtensor)."""
        if tensors and _dtensor.is_dtensor(tensors[0]) and "shard_seed" in self._outer:
            g = self._outer
            group = next(i for i, pg in enumerate(self.param_groups) if pg is chain.group)
            gen = _dtensor.shard_generator(
                g["shard_seed"],
                g["step"],
                chain.index,
                group,
                tensors[0],
                self.__dict__.setdefault("_shard_generators", {}),
            )
            for t in tensors:
                _dtensor.local(t).normal_(generator=gen)
            return
        for t in tensors:
            t.normal_(generator=self._rng(t.device))

    def _record_chain_distance(self, chain: Chain) -> None:
        """Telemetry: |y_i - x| of evaluation point i, summed over groups."""
        sq = ListOps(True).sum_of_squares(torch._foreach_sub(chain.points, chain.anchors))
        dist = self._tele.setdefault("chain_sq", {})
        dist[chain.index] = dist.get(chain.index, 0.0) + sq

    def _record_telemetry(self, planned: list) -> None:
        t = self._tele
        relaxed = t.get("relaxed_sq", 0.0) + sum(
            c.ops.sum_of_squares(d) for c, d in planned if c.group["L"] == 0
        )
        dot = t.get("dot", 0.0)
        gn, rn = math.sqrt(t.get("grad_norm_sq", 0.0)), math.sqrt(relaxed)
        chain = [math.sqrt(v) for v in t.get("chain_sq", {}).values()]
        self.last_telemetry = {
            "outer_step": self.outer_steps,
            "grad_norm": gn,
            "relaxed_grad_norm": rn,
            "cosine": dot / (gn * rn) if gn > 0 and rn > 0 else float("nan"),
            "gamma": planned[0][0].coupling if planned else float("nan"),
            "noise_norm": math.sqrt(t.get("noise_sq", 0.0)),
            "mean_chain_distance": sum(chain) / len(chain) if chain else 0.0,
        }
