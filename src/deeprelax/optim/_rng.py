"""The optimizers' noise generator: creation, device checks, and state that resumes across devices.

Methods that draw no noise never create a generator, so swapping ``torch.optim.SGD`` for
``HJ`` or ``ProxSGD`` leaves the global RNG (data order, dropout) exactly as it was.  A default
generator is seeded once from the global RNG (``torch.manual_seed`` makes runs repeatable) and
follows the parameters' device; a generator given by the caller must already be on it.
"""

from __future__ import annotations

import hashlib
import warnings
from typing import Any

import torch
from torch import Tensor


def same_device(a: torch.device | str, b: torch.device | str) -> bool:
    """Whether two devices are one (``cuda`` means the current CUDA device)."""
    a, b = torch.device(a), torch.device(b)
    if a.type != b.type:
        return False
    if a.type == "cpu":
        return True
    index_a = a.index if a.index is not None else _current_index(a.type)
    index_b = b.index if b.index is not None else _current_index(b.type)
    return index_a == index_b


def _current_index(kind: str) -> int | None:
    module = getattr(torch, kind, None)
    try:
        return int(module.current_device())  # type: ignore[union-attr]
    except Exception:  # noqa: BLE001 - a backend without the notion
        return None


def check_generator(generator: Any, params: list[Tensor]) -> torch.Generator | None:
    """Validate a caller's generator against the parameters' devices (``ValueError`` naming both)."""
    if generator is None:
        return None
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"Invalid generator value: {generator!r} (a torch.Generator or None)")
    for p in params:
        if not same_device(generator.device, p.device):
            raise ValueError(
                f"Invalid generator value: a generator on {generator.device} for parameters on "
                f"{p.device} (create it with torch.Generator(device='{p.device}'))"
            )
    return generator


def new_generator(device: torch.device, seed: int | None = None) -> torch.Generator:
    """A generator on ``device`` seeded from ``seed``, or from the global RNG (one draw)."""
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,)).item())
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen


def moved_generator(old: torch.Generator, device: torch.device) -> torch.Generator:
    """A default generator re-created on ``device`` (the model moved after construction).

    Seeded deterministically from the old generator's stream, so a seeded run stays repeatable.
    """
    seed = int(torch.randint(0, 2**62, (1,), generator=old, device=old.device).item())
    return new_generator(device, seed)


def saved_state(generator: torch.Generator) -> dict[str, Any]:
    return {"rng_state": generator.get_state(), "rng_device": torch.device(generator.device).type}


def restore_state(generator: torch.Generator, rng_state: Tensor, rng_device: str | None) -> None:
    """Set a saved generator state; across device types, re-seed deterministically from it.

    CPU (Mersenne twister) and CUDA (Philox) generators have different states, so a checkpoint
    saved on one and loaded on the other cannot continue the same stream: the new generator is
    seeded from a hash of the saved state instead (repeatable), with a warning.
    """
    state = rng_state.detach().to(device="cpu", dtype=torch.uint8)
    here = torch.device(generator.device).type
    if rng_device in (None, here):
        try:
            generator.set_state(state)
            return
        except RuntimeError:
            if rng_device is not None:
                raise
    seed = int.from_bytes(hashlib.sha256(state.numpy().tobytes()).digest()[:8], "little") >> 2
    generator.manual_seed(seed)
    warnings.warn(
        f"the optimizer's noise generator was saved on {rng_device or 'another device'} and is "
        f"restored on {here}: it continues from a seed derived from the saved state, so the noise "
        "differs from an uninterrupted run on one device",
        stacklevel=3,
    )
