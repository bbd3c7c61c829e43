"""A counter-based Gaussian source written as elementwise torch ops, for the fused update.

Philox-4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC'11;
the generator behind cuRAND's and torch's CUDA streams) maps a 128-bit counter and a 64-bit key to
four 32-bit words.  Element ``i`` of a draw at ``offset`` uses the counter ``(offset + i, 0)``
(low word, high word, then two zero words) and the key ``(seed mod 2**32, seed >> 32)``; its
first two words make two uniforms and Box-Muller's cosine branch one N(0, 1) value.  A draw is
therefore a pure function of (seed, offset, element index): a stream resumes from (seed, offset),
and the offset advances by the number of values drawn.

Everything is int64 tensor arithmetic on values below 2**32 with no product above 2**49 (the
32 x 32-bit multiplications are split into 16-bit halves), so no signed overflow can occur in any
backend, and ``torch.compile`` fuses the whole draw into the kernel that consumes it (a C++ loop
on CPU, slowly; a Triton kernel on CUDA).

The fused update uses it where :data:`NOISE_SOURCE` says so (off by default): the seed is taken
once from the optimizer's generator, and seed and offset live in the optimizer's state (under the
first parameter, key ``"fused_noise"``), so a ``state_dict`` resumes the identical stream (which
is not the eager ``normal_`` one).  Telemetry keeps the eager draw (it needs the noise's norm).

Uniforms carry 24 bits in float32 (and below) and 53 bits in float64; the first is kept away
from 0, so the largest |z| is about 5.9 (float32) or 8.6 (float64) standard deviations.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

__all__ = ["NOISE_SOURCE", "kernel_draw", "normal", "philox4x32"]

#: Where the fused update draws its Gaussian noise: ``"eager"`` (``normal_`` from the optimizer's
#: generator, the default), ``"kernel"`` (:func:`normal` inside the compiled update) or ``"auto"``
#: (``"kernel"`` for CUDA tensors only; on CPU the in-kernel draw is several times slower than
#: ``normal_``, on CUDA unmeasured so far).  An optimizer's ``_fused_noise`` attribute, where set,
#: takes precedence.
NOISE_SOURCE = "eager"

_MASK = 0xFFFFFFFF
_M0, _M1 = 0xD2511F53, 0xCD9E8D57  # the round multipliers
_W0, _W1 = 0x9E3779B9, 0xBB67AE85  # the key schedule's increments (golden ratio, sqrt(3) - 1)
ROUNDS = 10


def _mulhilo(a: Tensor, m: int) -> tuple[Tensor, Tensor]:
    """High and low 32-bit words of ``a * m`` (``a`` int64 in [0, 2**32), ``m`` a 32-bit constant)."""
    x = a * (m & 0xFFFF)  # < 2**48
    y = a * (m >> 16)  # < 2**48; a * m = x + y * 2**16
    t = x + ((y & 0xFFFF) << 16)  # < 2**49
    return ((y >> 16) + (t >> 32)) & _MASK, t & _MASK


def philox4x32(
    c0: Tensor, c1: Tensor, c2: Tensor, c3: Tensor, k0: Tensor, k1: Tensor, rounds: int = ROUNDS
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Philox-4x32-``rounds`` of the counter (c0, c1, c2, c3) under the key (k0, k1).

    All arguments are int64 tensors (broadcastable) holding 32-bit unsigned values.
    """
    for r in range(rounds):
        if r:
            k0, k1 = (k0 + _W0) & _MASK, (k1 + _W1) & _MASK
        hi0, lo0 = _mulhilo(c0, _M0)
        hi1, lo1 = _mulhilo(c2, _M1)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


def split_seed(seed: int) -> tuple[int, int]:
    """The Philox key (two 32-bit words) of a 64-bit seed."""
    return seed & _MASK, (seed >> 32) & _MASK


def normal(like: Tensor, k0: Tensor, k1: Tensor, offset: Tensor) -> Tensor:
    """N(0, 1) values shaped like ``like`` (its dtype, its device), element ``i`` from the counter
    ``offset + i`` under the key (k0, k1); ``k0``, ``k1``, ``offset``: 0-d int64 tensors."""
    n = like.numel()
    counter = torch.arange(n, dtype=torch.int64, device=like.device) + offset
    zero = torch.zeros_like(counter)
    w0, w1, w2, w3 = philox4x32(counter & _MASK, counter >> 32, zero, zero, k0, k1)
    if like.dtype == torch.float64:
        bits1 = ((w0 >> 5) << 26) + (w1 >> 6)  # 53 bits
        bits2 = ((w2 >> 5) << 26) + (w3 >> 6)
        u1 = (bits1.to(torch.float64) + 0.5) * 2.0**-53
        u2 = bits2.to(torch.float64) * 2.0**-53
    else:
        u1 = ((w0 >> 8).to(torch.float32) + 0.5) * 2.0**-24
        u2 = (w1 >> 8).to(torch.float32) * 2.0**-24
    z = torch.sqrt(-2.0 * torch.log(u1)) * torch.cos((2.0 * math.pi) * u2)
    return z.to(like.dtype).reshape(like.shape)


def kernel_draw(opt: Any, points: list[Tensor]) -> tuple[tuple[Tensor, ...], list[Tensor]]:
    """The key and one offset per tensor of ``points`` for an in-kernel draw, the stream's offset
    advanced past it; ``((), [])`` where the draw stays eager (:data:`NOISE_SOURCE`)."""
    source = getattr(opt, "_fused_noise", NOISE_SOURCE)
    if source not in ("eager", "kernel", "auto"):
        raise ValueError(f"Invalid fused noise source: {source!r} (eager, kernel or auto)")
    cuda = all(t.device.type == "cuda" for t in points)
    if opt.telemetry or source == "eager" or (source == "auto" and not cuda):
        return (), []
    st = opt.state[opt._all_params()[0]]
    stream = st.get("fused_noise")
    if stream is None:
        gen = opt._rng(points[0].device)
        seed = int(torch.randint(0, 2**63 - 1, (1,), generator=gen, device=gen.device).item())
        stream = {"seed": seed, "offset": 0}
    starts, offset = [], stream["offset"]
    for t in points:
        starts.append(offset)
        offset += t.numel()
    st["fused_noise"] = {"seed": stream["seed"], "offset": offset}
    key = torch.tensor(split_seed(stream["seed"]), dtype=torch.int64).unbind()
    return key, list(torch.tensor(starts, dtype=torch.int64).unbind())
