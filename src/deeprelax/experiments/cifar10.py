"""CIFAR-10 from the python batches, with the paper's preprocessing (contrast normalization + ZCA).

The batches (``data_batch_1`` .. ``data_batch_5``, ``test_batch``) and ``batches.meta`` are
pickles; they are read with :func:`~deeprelax.experiments.safe_pickle.load_data_pickle`, which
builds data only (a batch that tries to import anything is refused with one line naming it). The
whitened result is cached as an ``.npz`` (:mod:`~deeprelax.experiments.array_cache`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from .array_cache import SPLIT_SPEC, default_cache_dir, load_arrays, save_arrays, splits_from_cache
from .safe_pickle import load_data_pickle

__all__ = [
    "CIFAR_FIX",
    "CIFAR_TEST",
    "CIFAR_TRAIN",
    "load_cifar10",
    "read_cifar_meta",
    "zca_whiten",
]

Split = tuple[torch.Tensor, torch.Tensor]

CIFAR_FIX = (
    "download cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and "
    "extract it into --data-dir"
)
ZCA_EPS = 1e-5

CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = ("test_batch",)


def _cifar_dir(data_dir: Path) -> Path:
    for candidate in (data_dir, data_dir / "cifar-10-batches-py"):
        if (candidate / "test_batch").is_file():
            return candidate
    return data_dir


def _field(record: object, key: str) -> object:
    """``record[b"key"]`` (Python 2 pickles read as bytes) or ``record["key"]``."""
    if not isinstance(record, dict):
        raise TypeError(f"a {type(record).__name__}, not a dict")
    for k in (key.encode(), key):
        if k in record:
            return record[k]
    raise ValueError(f"no {key!r} entry")


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; {CIFAR_FIX}")
    try:
        batch = load_data_pickle(path, what="CIFAR-10 batch", encoding="bytes")
    except ValueError as exc:
        raise ValueError(f"{exc}; {CIFAR_FIX}") from None
    try:
        data, labels = _field(batch, "data"), np.asarray(_field(batch, "labels"))
        if not isinstance(data, np.ndarray) or data.dtype != np.uint8:
            raise TypeError("data is not a uint8 array")
        if labels.dtype.kind not in "iu":
            raise TypeError(f"labels of dtype {labels.dtype}, not integers")
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: not a CIFAR-10 batch ({exc}); {CIFAR_FIX}") from None
    if data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (data.shape[0],):
        raise ValueError(
            f"{path}: expected data (N, 3072) and N labels, found {data.shape} and "
            f"{labels.shape}; {CIFAR_FIX}"
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{path}: labels outside 0..9; {CIFAR_FIX}")
    return data, labels.astype(np.int64)


def read_cifar_meta(path: str | os.PathLike) -> list[str]:
    """The 10 class names of a CIFAR-10 ``batches.meta`` (unpickled as data only)."""
    path = Path(path)
    try:
        meta = load_data_pickle(path, what="CIFAR-10 meta file", encoding="bytes")
    except ValueError as exc:
        raise ValueError(f"{exc}; {CIFAR_FIX}") from None
    try:
        names = _field(meta, "label_names")
        if not isinstance(names, list) or len(names) != 10:
            raise ValueError("label_names is not a list of 10 names")
        names = [n.decode("latin1") if isinstance(n, bytes) else n for n in names]
        if not all(isinstance(n, str) for n in names):
            raise ValueError("label_names holds non-strings")
        if isinstance(meta, dict) and _field(meta, "num_vis") != 3072:
            raise ValueError("num_vis is not 3072")
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: not a CIFAR-10 meta file ({exc}); {CIFAR_FIX}") from None
    return names


def zca_whiten(
    train: np.ndarray, test: np.ndarray, eps: float = ZCA_EPS
) -> tuple[np.ndarray, np.ndarray]:
    """Per-image contrast normalization, then ZCA whitening fitted on ``train`` (rows = images).

    ``x <- (x - mean(x)) / std(x)`` per row; then with ``m`` the training mean and
    ``C = (X - m)^T (X - m) / N = U diag(s) U^T``, ``W = U diag(1 / sqrt(s + eps)) U^T`` and
    ``x <- (x - m) W`` for both sets. On the training set the whitened covariance is
    ``diag(s / (s + eps))`` in the eigenbasis: the identity on directions with variance >> eps.
    """
    if eps <= 0:
        raise ValueError(f"Invalid eps value: {eps}")

    def contrast(x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float64)
        x = x - x.mean(axis=1, keepdims=True)
        return x / np.maximum(x.std(axis=1, keepdims=True), 1e-8)

    xtr, xte = contrast(train), contrast(test)
    mean = xtr.mean(axis=0)
    n, d = xtr.shape
    if n >= d:  # eigen-decomposition of the d x d covariance
        cov = (xtr - mean).T @ (xtr - mean) / n
        s, v = np.linalg.eigh(cov)
        s = np.clip(s, 0.0, None)
    else:  # fewer images than pixels: thin SVD of the data; the complement has eigenvalue 0
        _, sing, vt = np.linalg.svd((xtr - mean) / np.sqrt(n), full_matrices=False)
        s, v = sing**2, vt.T

    def apply(x: np.ndarray) -> np.ndarray:
        centred = x - mean
        proj = centred @ v
        out = (proj / np.sqrt(s + eps)) @ v.T
        if v.shape[1] < d:  # W acts as 1/sqrt(eps) on the null space of C
            out += (centred - proj @ v.T) / np.sqrt(eps)
        return out.astype(np.float32)

    return apply(xtr), apply(xte)


_CIFAR_SPEC = {
    **SPLIT_SPEC,
    "x": ("float32", 4),
    "x_test": ("float32", 4),
    "fp_names": ("U", 1),
    "fp_sizes": ("int64", 1),
    "fp_mtimes": ("int64", 1),
}


def _fingerprint(paths: list[Path]) -> dict[str, np.ndarray]:
    stats = [p.stat() for p in paths]
    return {
        "fp_names": np.array([p.name for p in paths]),
        "fp_sizes": np.array([st.st_size for st in stats], dtype=np.int64),
        "fp_mtimes": np.array([st.st_mtime_ns for st in stats], dtype=np.int64),
    }


def load_cifar10(
    data_dir: str | os.PathLike, cache_dir: str | os.PathLike | None = None
) -> tuple[Split, Split]:
    """CIFAR-10 with the paper's preprocessing (contrast normalization + ZCA), cached after the first run."""
    source = _cifar_dir(Path(data_dir))
    paths = [source / n for n in CIFAR_TRAIN + CIFAR_TEST]
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"{p}: missing; {CIFAR_FIX}")
    if (source / "batches.meta").is_file():
        read_cifar_meta(source / "batches.meta")
    cache = (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / "cifar10-zca.npz"
    stamp = _fingerprint(paths)
    if cache.exists():
        blob = load_arrays(cache, _CIFAR_SPEC, what="CIFAR-10 cache")
        splits = splits_from_cache(cache, blob, "CIFAR-10 cache", (3, 32, 32))
        if all(np.array_equal(blob[k], v) for k, v in stamp.items()):
            return splits
    train = [_read_cifar_batch(p) for p in paths[:5]]
    xte, yte = _read_cifar_batch(paths[5])
    xtr = np.concatenate([d for d, _ in train])
    ytr = np.concatenate([y for _, y in train])
    wtr, wte = zca_whiten(xtr, xte)
    blob = {
        "x": wtr.reshape(-1, 3, 32, 32),
        "y": ytr,
        "x_test": wte.reshape(-1, 3, 32, 32),
        "y_test": yte,
        **stamp,
    }
    save_arrays(cache, blob)
    return splits_from_cache(cache, blob, "CIFAR-10 cache", (3, 32, 32))
