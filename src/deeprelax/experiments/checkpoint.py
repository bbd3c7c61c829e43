"""Training checkpoints: one ``torch.save`` dict, written atomically.

Format ``deeprelax-checkpoint-v1``::

    {"format": "deeprelax-checkpoint-v1",
     "config": {"model": ..., "dataset": ..., "optim": ..., "seed": ..., ...},
     "model_state": model.state_dict(),
     "optimizer_state": optimizer.state_dict(),
     "progress": {"grad_evals": ..., "steps": ..., "rng": {...}, "metrics": [...], ...}}

``save_checkpoint`` writes to a temporary file in the same folder and renames it over the
target with ``os.replace``, so a run killed mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

__all__ = ["CHECKPOINT_FORMAT", "load_checkpoint", "save_checkpoint"]

CHECKPOINT_FORMAT = "deeprelax-checkpoint-v1"
_KEYS = ("config", "model_state", "optimizer_state", "progress")


def save_checkpoint(
    path: str | os.PathLike,
    *,
    config: dict[str, Any],
    model_state: dict[str, Any],
    optimizer_state: dict[str, Any],
    progress: dict[str, Any],
) -> Path:
    """Write a checkpoint atomically (temporary file + ``os.replace``); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {
        "format": CHECKPOINT_FORMAT,
        "config": dict(config),
        "model_state": model_state,
        "optimizer_state": optimizer_state,
        "progress": progress,
    }
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        torch.save(blob, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def load_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device | None = "cpu"
) -> dict[str, Any]:
    """Read a deeprelax checkpoint; ``ValueError`` naming the file and the reason if it is missing,
    corrupt or not a deeprelax checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: checkpoint file not found")
    try:
        # The file holds our own dicts, tensors and generator states (ByteTensors): weights_only
        # loading is enough and refuses arbitrary pickled code.
        blob = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise ValueError(
            f"{path}: corrupt checkpoint, cannot be read ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(blob, dict) or blob.get("format") != CHECKPOINT_FORMAT:
        found = blob.get("format") if isinstance(blob, dict) else type(blob).__name__
        raise ValueError(
            f"{path}: not a deeprelax checkpoint (format {found!r}, expected {CHECKPOINT_FORMAT!r})"
        )
    missing = [k for k in _KEYS if k not in blob]
    if missing:
        raise ValueError(f"{path}: deeprelax checkpoint lacks {', '.join(missing)}")
    return blob
