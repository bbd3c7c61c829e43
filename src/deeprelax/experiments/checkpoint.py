"""Training checkpoints: one ``torch.save`` dict, written atomically.

Format ``deeprelax-checkpoint-v1``::

    {"format": "deeprelax-checkpoint-v1",
     "config": {"model": ..., "dataset": ..., "optim": ..., "seed": ..., ...},
     "model_state": model.state_dict(),
     "optimizer_state": optimizer.state_dict(),
     "progress": {"grad_evals": ..., "steps": ..., "rng": {...}, "metrics": [...], ...}}

``save_checkpoint`` writes to a temporary file in the same folder and renames it over the
target with ``os.replace``, so a run killed mid-write leaves the previous checkpoint intact.

A checkpoint is data, never code: ``load_checkpoint`` reads with ``torch.load(weights_only=True)``
(tensors, containers and numbers only) and then checks the layout above. Whatever goes wrong --
a refused global, a truncated file, another program's file, another model's shapes while
resuming (:func:`resuming_from`) -- is one ``ValueError`` line naming the file and the reason,
raised before anything is written, so the file is left as it was.
"""

from __future__ import annotations

import os
import re
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from .safe_pickle import one_line

__all__ = ["CHECKPOINT_FORMAT", "load_checkpoint", "resuming_from", "save_checkpoint"]

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


def _unreadable(exc: Exception) -> str:
    """Why torch.load refused a file, in one line (torch's own message spans paragraphs)."""
    text = str(exc)
    refused = re.search(r"GLOBAL ([\w.]+)", text)
    if refused:
        return (
            f"refused to unpickle global {refused.group(1)} (a deeprelax checkpoint holds only "
            "tensors, numbers, strings and containers); the file is not safe to load"
        )
    if "Weights only load failed" in text:
        detail = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", text)
        why = detail.group(1).strip() if detail else one_line(exc, limit=80)
        return f"corrupt checkpoint, cannot be read (the weights-only reader stopped: {why})"
    return f"corrupt checkpoint, cannot be read ({one_line(exc)})"


def _zip_problem(path: Path) -> str | None:
    """torch.save writes a zip whose records carry CRC-32s that torch.load does not check;
    check them, so that a damaged file is an error rather than different numbers."""
    with open(path, "rb") as fh:
        if fh.read(4) != b"PK\x03\x04":
            return None  # not a zip: torch.load's weights-only reader judges it
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except Exception as exc:  # noqa: BLE001 -- any failure of a damaged archive is one line
        return f"corrupt checkpoint, cannot be read ({one_line(exc)})"
    return f"corrupt checkpoint (record {bad} fails its CRC check)" if bad else None


def _layout_problem(blob: dict[str, Any]) -> str | None:
    """What in ``blob`` does not match the checkpoint layout, or None."""
    for key in ("config", "progress", "model_state", "optimizer_state"):
        if not isinstance(blob[key], dict):
            return f"{key} is a {type(blob[key]).__name__}, not a dict"
    model_state = blob["model_state"]
    if not all(isinstance(k, str) and torch.is_tensor(v) for k, v in model_state.items()):
        return "model_state is not a dict of named tensors"
    return None  # the optimizer state may be empty (a model-only checkpoint); resuming checks it


def load_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device | None = "cpu"
) -> dict[str, Any]:
    """Read a deeprelax checkpoint; ``ValueError`` naming the file and the reason (one line) if it
    is missing, corrupt, unsafe or not a deeprelax checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: checkpoint file not found")
    damage = _zip_problem(path)
    if damage:
        raise ValueError(f"{path}: {damage}")
    try:
        # The file holds our own dicts, tensors and generator states (ByteTensors): weights_only
        # loading is enough and refuses arbitrary pickled code.
        with warnings.catch_warnings():  # torch warns about pickle protocols of foreign files
            warnings.simplefilter("ignore")
            blob = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 -- every failure of a bad file is one line
        raise ValueError(f"{path}: {_unreadable(exc)}") from exc
    if not isinstance(blob, dict) or blob.get("format") != CHECKPOINT_FORMAT:
        found = blob.get("format") if isinstance(blob, dict) else type(blob).__name__
        raise ValueError(
            f"{path}: not a deeprelax checkpoint (format {found!r}, expected {CHECKPOINT_FORMAT!r})"
        )
    missing = [k for k in _KEYS if k not in blob]
    if missing:
        raise ValueError(f"{path}: deeprelax checkpoint lacks {', '.join(missing)}")
    problem = _layout_problem(blob)
    if problem:
        raise ValueError(f"{path}: not a deeprelax checkpoint ({problem})")
    return blob


@contextmanager
def resuming_from(path: str | os.PathLike) -> Iterator[None]:
    """Wrap the code that puts a loaded checkpoint into a model, optimizer and trainer: any
    failure there (another model's shapes, another optimizer's groups, missing progress entries)
    becomes one ``ValueError`` line naming the file. Errors that already name it pass unchanged."""
    try:
        yield
    except ValueError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise ValueError(f"{path}: cannot resume from this checkpoint ({one_line(exc)})") from exc
    except (KeyError, TypeError, AttributeError, IndexError, RuntimeError) as exc:
        text = str(exc)
        if "Error(s) in loading state_dict" in text:
            detail = text.split(":", 1)[-1]
            raise ValueError(
                f"{path}: made for another model ({' '.join(detail.split())[:240]})"
            ) from exc
        raise ValueError(f"{path}: cannot resume from this checkpoint ({one_line(exc)})") from exc
