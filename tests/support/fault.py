"""SIGKILL fault injection for the torchrun restart tests.

``DEEPRELAX_FAULT_INJECT="RANK:EVALS"`` makes replica ``RANK`` kill itself (SIGKILL) at its
``EVALS``-th gradient evaluation, on the first attempt only (``TORCHELASTIC_RESTART_COUNT`` = 0).
It reaches the trainer as its ``closure_hook``.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Any

ENV = "DEEPRELAX_FAULT_INJECT"


def fault_hook(spec: str | None = None) -> Callable[[Any], None] | None:
    """The trainer ``closure_hook`` for ``spec`` (default: ``$DEEPRELAX_FAULT_INJECT``); None
    when there is no fault to inject (unset, or a restarted attempt)."""
    from deeprelax.experiments.distributed import is_restart

    spec = os.environ.get(ENV) if spec is None else spec
    if not spec or is_restart():
        return None
    try:
        rank, evals = (int(v) for v in spec.split(":"))
    except ValueError as exc:
        raise ValueError(f"Invalid {ENV} value: {spec!r} (RANK:EVALS)") from exc

    def hook(trainer: Any) -> None:
        if trainer.rank == rank and trainer.closure_calls >= evals:
            print(
                f"[rank {trainer.rank}] {ENV}: killing this replica at "
                f"{trainer.closure_calls} gradient evaluations",
                file=sys.stderr,
                flush=True,
            )
            os.kill(os.getpid(), signal.SIGKILL)

    return hook
