"""Caches of arrays in a format that cannot carry code: an uncompressed numpy ``.npz``.

deeprelax caches preprocessed data (the ZCA-whitened CIFAR-10, MNIST-1D) with
:func:`save_arrays` and reads it back with :func:`load_arrays`, which never unpickles: every
member must be a ``.npy`` array of the dtype and rank the caller expects, no larger than the file
itself, and is read with ``allow_pickle=False``; the zip CRC of each member is checked as it is
read, so a truncated or altered cache is an error, never silently different numbers. Failures
are a ``ValueError`` of one line naming the file and the reason.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import torch

from .safe_pickle import one_line

__all__ = ["SPLIT_SPEC", "default_cache_dir", "load_arrays", "save_arrays", "splits_from_cache"]

Split = tuple[torch.Tensor, torch.Tensor]

#: The arrays of a cached data set: inputs and labels of the training and test sets.
SPLIT_SPEC = {
    "x": ("float32", 2),
    "y": ("int64", 1),
    "x_test": ("float32", 2),
    "y_test": ("int64", 1),
}

_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def default_cache_dir() -> Path:
    """``$DEEPRELAX_CACHE`` if set, else ``~/.cache/deeprelax``."""
    return Path(os.environ.get("DEEPRELAX_CACHE", Path.home() / ".cache" / "deeprelax"))


class _Bad(Exception):
    """The cache is readable but not what the caller expects (message: why)."""


def save_arrays(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` to ``path`` (an uncompressed .npz) atomically; returns the path."""
    path = Path(path)
    for key, value in arrays.items():
        if not isinstance(value, np.ndarray) or value.dtype.hasobject:
            raise ValueError(f"Invalid arrays value: {key!r} is not a numeric numpy array")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, allow_pickle=False, **arrays)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _check_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dtype: str, ndim: int, size: int):
    if info.compress_type != zipfile.ZIP_STORED or info.file_size > size:
        raise _Bad(f"member {info.filename} is compressed or larger than the file")
    with zf.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        if version not in _HEADER_READERS:
            raise _Bad(f"member {info.filename} has .npy version {version}")
        shape, _, found = _HEADER_READERS[version](fh)
    expected = np.dtype(dtype)
    if found.hasobject or (found.kind != "U" if expected.kind == "U" else found != expected):
        raise _Bad(f"{info.filename} has dtype {found}, expected {expected}")
    if len(shape) != ndim:
        raise _Bad(f"{info.filename} has shape {shape}, expected {ndim} dimensions")
    if int(np.prod(shape, dtype=np.int64)) * found.itemsize > info.file_size:
        raise _Bad(f"{info.filename} declares shape {shape}, more than it holds")


def load_arrays(
    path: str | os.PathLike, spec: dict[str, tuple[str, int]], what: str = "cache"
) -> dict[str, np.ndarray]:
    """Read the arrays named in ``spec`` (``{name: (dtype, ndim)}``) from a .npz written by
    :func:`save_arrays`; ``ValueError("<file>: ...")`` if it is not such a file."""
    path = Path(path)
    fix = "delete it to rebuild the cache"
    try:
        size = path.stat().st_size
        with zipfile.ZipFile(path) as zf:
            members = {name.removesuffix(".npy"): zf.getinfo(name) for name in zf.namelist()}
            missing = [key for key in spec if key not in members]
            if missing:
                raise _Bad(f"lacks {', '.join(missing)}")
            out = {}
            for key, (dtype, ndim) in spec.items():
                _check_member(zf, members[key], dtype, ndim, size)
                with zf.open(members[key]) as fh:
                    out[key] = np.lib.format.read_array(fh, allow_pickle=False)
                    fh.read()  # reach the end of the member, where zipfile checks its CRC
    except _Bad as exc:
        raise ValueError(f"{path}: not a deeprelax {what} ({exc}); {fix}") from None
    except Exception as exc:  # noqa: BLE001 -- every failure of a corrupt file is one line
        raise ValueError(f"{path}: corrupt {what} ({one_line(exc)}); {fix}") from exc
    return out


def splits_from_cache(
    path: Path, blob: dict[str, np.ndarray], what: str, sample: tuple[int, ...] | None = None
) -> tuple[Split, Split]:
    """Tensors from a cache's arrays, after checking shapes (one sample: ``sample``) and labels."""
    for x, y in (("x", "y"), ("x_test", "y_test")):
        shape, labels = blob[x].shape, blob[y]
        reason = None
        if labels.shape != shape[:1] or shape[1:] != (sample or blob["x"].shape[1:]):
            reason = f"{x} {shape} and {y} {labels.shape} do not fit"
        elif labels.size and not 0 <= labels.min() <= labels.max() <= 9:
            reason = f"{y} outside 0..9"
        if reason:
            raise ValueError(f"{path}: not a deeprelax {what} ({reason}); delete it to rebuild")
    return (
        (torch.from_numpy(blob["x"]), torch.from_numpy(blob["y"])),
        (torch.from_numpy(blob["x_test"]), torch.from_numpy(blob["y_test"])),
    )
