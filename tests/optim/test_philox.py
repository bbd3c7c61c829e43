"""The fused update's counter-based Gaussian source (optim/_philox.py), run eagerly on the CPU.

Statistical checks use fixed keys, so they are deterministic; each bound is five standard errors
of the statistic under the null hypothesis (a false alarm for a correct generator has probability
below 1e-6 per check), and the Kolmogorov-Smirnov checks ask for p > 1e-4.
"""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats

from deeprelax.optim import _philox

N = 1 << 18
I64 = torch.int64


def key(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    return tuple(torch.tensor(w, dtype=I64) for w in _philox.split_seed(seed))


def draw(n: int, seed: int, offset: int, dtype=torch.float32) -> torch.Tensor:
    return _philox.normal(torch.empty(n, dtype=dtype), *key(seed), torch.tensor(offset, dtype=I64))


@pytest.mark.parametrize(
    "counter, key_words, expected",
    [
        # Random123's known-answer vectors for philox4x32-10 (kat_vectors)
        ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
        ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
        (
            (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
            (0xA4093822, 0x299F31D0),
            (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
        ),
    ],
)
def test_philox_known_answers(counter, key_words, expected):
    words = _philox.philox4x32(
        *(torch.tensor(c, dtype=I64) for c in counter),
        *(torch.tensor(k, dtype=I64) for k in key_words),
    )
    assert tuple(int(w) for w in words) == expected


def test_a_draw_is_a_function_of_seed_offset_and_index():
    a, b = draw(1000, 7, 123), draw(1000, 7, 123)
    assert torch.equal(a, b)
    assert not torch.equal(a, draw(1000, 8, 123))
    # element i of a draw at offset o is element i + 1 of the draw at o - 1: one counter each
    assert torch.equal(draw(1000, 7, 124)[:-1], a[1:])


def test_resuming_mid_stream_continues_the_stream():
    whole = draw(5000, 3, 2**40 - 1000)  # across a carry into the counter's high word
    first = draw(1234, 3, 2**40 - 1000)
    rest = draw(5000 - 1234, 3, 2**40 - 1000 + 1234)
    assert torch.equal(torch.cat([first, rest]), whole)


def test_shape_dtype_and_range():
    like = torch.empty(3, 4, 5, dtype=torch.float64)
    z = _philox.normal(like, *key(1), torch.tensor(0, dtype=I64))
    assert z.shape == like.shape and z.dtype == torch.float64
    z16 = _philox.normal(torch.empty(10, dtype=torch.bfloat16), *key(1), torch.tensor(0, dtype=I64))
    assert z16.dtype == torch.bfloat16
    assert torch.isfinite(draw(N, 11, 0)).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_moments_and_distribution(dtype):
    z = draw(N, 12345, 99, dtype).double()
    se = 1 / math.sqrt(N)
    assert abs(float(z.mean())) < 5 * se
    assert abs(float(z.var()) - 1) < 5 * math.sqrt(2) * se
    assert abs(float((z**3).mean())) < 5 * math.sqrt(15) * se  # skewness; Var(z^3) = 15
    assert abs(float((z**4).mean()) - 3) < 5 * math.sqrt(96) * se  # kurtosis; Var(z^4) = 96
    tail = float((z.abs() > 3).double().mean())
    p = 2 * stats.norm.sf(3)
    assert abs(tail - p) < 5 * math.sqrt(p * (1 - p) / N)
    assert stats.kstest(z[: 1 << 16].numpy(), "norm").pvalue > 1e-4


def test_no_correlation_between_neighbours_or_consecutive_draws():
    """Lag-1 correlation within a draw, and between a draw and the next one (offset + n)."""
    n, se = N, 1 / math.sqrt(N)
    z = draw(n, 2024, 0).double()
    nxt = draw(n, 2024, n).double()
    assert abs(float(torch.corrcoef(torch.stack([z[:-1], z[1:]]))[0, 1])) < 5 * se
    assert abs(float(torch.corrcoef(torch.stack([z, nxt]))[0, 1])) < 5 * se
    # neighbouring seeds (keys that differ in one bit) are not correlated either
    other = draw(n, 2025, 0).double()
    assert abs(float(torch.corrcoef(torch.stack([z, other]))[0, 1])) < 5 * se
    # the uniforms' low bits: the sign pattern of consecutive values is independent
    s = (z > 0).double()
    assert abs(float(((s[:-1] == s[1:]).double().mean()) - 0.5)) < 5 * 0.5 * se
    assert stats.kstest(torch.cat([z[:4096], nxt[:4096]]).numpy(), "norm").pvalue > 1e-4
