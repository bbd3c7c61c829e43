"""Truncated and bit-flipped copies of a small valid file of every format deeprelax reads: each
read is a correct load or a one-line ``ValueError`` naming the file; never another exception,
never a hang (an alarm fails the test after 60 s). Deterministic seeds."""

import gzip
import pickle
import signal

import numpy as np
import pytest
import torch
from untrusted_samples import cifar_meta, python2_batch

from deeprelax.experiments import cifar10 as C
from deeprelax.experiments import data as D
from deeprelax.experiments.array_cache import SPLIT_SPEC, load_arrays, save_arrays
from deeprelax.experiments.checkpoint import load_checkpoint, save_checkpoint

RNG_SEED = 1234
FLIPS = 100  # single-bit flips per format
SMEARS = 20  # runs of 1-8 random bytes per format


def _cifar_batch(path):
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (4, 3072)).astype(np.uint8)
    labels = rng.integers(0, 10, 4).tolist()
    path.write_bytes(pickle.dumps({b"data": data, b"labels": labels}, protocol=2))

    def check(result):
        got, y = result
        assert got.shape == (4, 3072) and got.dtype == np.uint8 and y.shape == (4,)
        assert 0 <= y.min() and y.max() <= 9

    return C._read_cifar_batch, check


def _python2_cifar_batch(path):
    data = np.random.default_rng(1).integers(0, 256, (2, 3072)).astype(np.uint8)
    path.write_bytes(python2_batch(data, [4, 5]))

    def check(result):
        assert result[0].shape == (2, 3072) and result[1].shape == (2,)

    return C._read_cifar_batch, check


def _cifar_meta(path):
    path.write_bytes(pickle.dumps(cifar_meta(), protocol=2))

    def check(names):
        assert len(names) == 10 and all(isinstance(n, str) for n in names)

    return C.read_cifar_meta, check


def _mnist_pickle(path):
    rng = np.random.default_rng(2)
    parts = tuple(
        (rng.random((n, 784)).astype(np.float32), rng.integers(0, 10, n)) for n in (3, 2, 2)
    )
    with gzip.open(path, "wb") as fh:
        pickle.dump(parts, fh, protocol=2)

    def check(result):  # gzip's CRC-32 guards the content: a load is the original, exactly
        (x, y), (xt, yt) = result
        assert torch.equal(
            x.reshape(5, -1), torch.from_numpy(np.concatenate([p[0] for p in parts[:2]]))
        )
        assert torch.equal(yt, torch.from_numpy(parts[2][1]))

    return D.read_mnist_pickle, check


def _cache(path):
    rng = np.random.default_rng(3)
    original = {
        "x": rng.normal(size=(5, 4)).astype(np.float32),
        "y": rng.integers(0, 10, 5),
        "x_test": rng.normal(size=(2, 4)).astype(np.float32),
        "y_test": rng.integers(0, 10, 2),
    }
    save_arrays(path, original)

    def check(arrays):  # the zip CRC-32s guard the content: a load is the original, exactly
        assert all(np.array_equal(arrays[k], v) for k, v in original.items())

    return (lambda p: load_arrays(p, SPLIT_SPEC)), check


def _checkpoint(path):
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.ones(2, 4)).sum().backward()
    opt.step()
    save_checkpoint(
        path,
        config={"model": "linear", "seed": 0},
        model_state=model.state_dict(),
        optimizer_state=opt.state_dict(),
        progress={"steps": 1, "metrics": [{"test_error": 1.0}], "rng": torch.get_rng_state()},
    )

    original = torch.load(path, weights_only=True)

    def check(blob):  # the zip CRC-32s guard the content: a load is the original, exactly
        assert blob["config"] == original["config"]
        assert blob["progress"]["metrics"] == original["progress"]["metrics"]
        for key in ("model_state", "optimizer_state", "progress"):
            assert _same(blob[key], original[key]), key

    return load_checkpoint, check


def _same(a, b):
    if torch.is_tensor(a):
        return torch.is_tensor(b) and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    return a == b


FORMATS = [_cifar_batch, _python2_cifar_batch, _cifar_meta, _mnist_pickle, _cache, _checkpoint]


def _mutants(raw, rng):
    """Truncations (every prefix length on a grid, plus the empty file) and corruptions."""
    n = len(raw)
    for cut in sorted({0, 1, 2, n // 3, n // 2, n - 1, *rng.integers(0, n, 12).tolist()}):
        yield f"truncated to {cut}", raw[:cut]
    for _ in range(FLIPS):
        pos, bit = int(rng.integers(n)), int(rng.integers(8))
        out = bytearray(raw)
        out[pos] ^= 1 << bit
        yield f"bit {bit} of byte {pos} flipped", bytes(out)
    for _ in range(SMEARS):
        pos, size = int(rng.integers(n)), int(rng.integers(1, 9))
        out = bytearray(raw)
        out[pos : pos + size] = rng.integers(0, 256, min(size, n - pos)).astype(np.uint8).tobytes()
        yield f"bytes {pos}..{pos + size} overwritten", bytes(out)


@pytest.fixture
def alarm():
    def _timeout(signum, frame):
        raise TimeoutError("a reader hung on a corrupt file")

    previous = signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("make", FORMATS, ids=[f.__name__.strip("_") for f in FORMATS])
def test_corrupt_copies_load_correctly_or_fail_in_one_line(tmp_path, make, alarm):
    good = tmp_path / "good"
    reader, check = make(good)
    check(reader(good))  # the valid file loads
    raw = good.read_bytes()
    path = tmp_path / "mutant"
    outcomes = {"loaded": 0, "refused": 0}
    for what, mutant in _mutants(raw, np.random.default_rng(RNG_SEED)):
        path.write_bytes(mutant)
        try:
            result = reader(path)
        except ValueError as exc:
            text = str(exc)
            assert "\n" not in text and str(path) in text, f"{what}: {text!r}"
            outcomes["refused"] += 1
        else:
            check(result)
            outcomes["loaded"] += 1
    print(make.__name__, outcomes)  # shown with -s: how many mutants loaded, how many were refused
    # every truncation is refused
    assert outcomes["refused"] >= 14, outcomes
