"""Files from elsewhere are data, never code: crafted payloads are refused with one line naming
the file, while real small files of every format still load.

Each crafted file carries an object whose unpickling would run ``os.system("touch MARKER")``;
the marker must never appear.
"""

import gzip
import pickle

import numpy as np
import pytest
import torch
from untrusted_samples import Payload, cifar_meta, python2_batch

from deeprelax.cli import main
from deeprelax.experiments import cifar10 as C
from deeprelax.experiments import data as D
from deeprelax.experiments.array_cache import save_arrays
from deeprelax.experiments.checkpoint import load_checkpoint, save_checkpoint
from deeprelax.experiments.safe_pickle import load_data_pickle


class NumpyPayload:
    """A payload behind an allowed-looking module name (numpy.load would open any file)."""

    def __reduce__(self):
        return (np.load, ("/etc/hostname",))


def _one_line_naming(exc_info, path):
    text = str(exc_info.value)
    assert "\n" not in text, text
    assert str(path) in text, text
    return text


def _batch(n=4, seed=0):
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": b"training batch 1 of 5",
        b"labels": rng.integers(0, 10, n).tolist(),
        b"data": rng.integers(0, 256, (n, 3072)).astype(np.uint8),
        b"filenames": [f"img_{i}.png".encode() for i in range(n)],
    }


def _py2_style(raw):
    """numpy 1.x / Python 2 pickles name numpy.core.multiarray, not numpy._core.multiarray."""
    return raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


# ------------------------------------------------------------------------ crafted pickles refused


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
@pytest.mark.parametrize("where", ["value", "key", "label"])
def test_cifar_batch_with_code_is_refused(tmp_path, protocol, where):
    marker = tmp_path / "MARKER"
    batch = _batch()
    if where == "value":
        batch[b"data"] = Payload(marker)
    elif where == "key":
        batch[Payload(marker)] = 1
    else:
        batch[b"labels"] = [Payload(marker)]
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(batch, protocol=protocol))
    with pytest.raises(ValueError) as info:
        C._read_cifar_batch(path)
    text = _one_line_naming(info, path)
    assert "refused to unpickle global posix.system" in text or "global os.system" in text
    assert not marker.exists()


def test_whole_cifar_folder_with_one_bad_batch_is_refused_through_the_cli(tmp_path, capsys):
    marker = tmp_path / "MARKER"
    for name in [*C.CIFAR_TRAIN, *C.CIFAR_TEST]:
        (tmp_path / name).write_bytes(pickle.dumps(_batch()))
    (tmp_path / "data_batch_4").write_bytes(pickle.dumps({b"data": Payload(marker)}))
    argv = ["train", "--model", "allcnn", "--optim", "sgd", "--budget", "1", "--quiet"]
    argv += ["--out", str(tmp_path / "run"), "--data-dir", str(tmp_path)]
    assert main([*argv, "--cache-dir", str(tmp_path / "cache")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "data_batch_4: refused to unpickle global" in err
    assert not marker.exists()
    assert not (tmp_path / "cache" / "cifar10-zca.npz").exists()


@pytest.mark.parametrize(
    "evil",
    [
        lambda m: Payload(m),
        lambda m: NumpyPayload(),
        lambda m: {"x": np.array([Payload(m)], dtype=object)},  # pickled inside an object array
        lambda m: np.array([1, 2], dtype=object),  # object dtype even without a payload
    ],
    ids=["os.system", "numpy.load", "object-array-payload", "object-array"],
)
def test_meta_file_with_code_or_objects_is_refused(tmp_path, evil):
    marker = tmp_path / "MARKER"
    meta = cifar_meta()
    meta[b"label_names"] = evil(marker)
    path = tmp_path / "batches.meta"
    path.write_bytes(pickle.dumps(meta, protocol=2))
    with pytest.raises(ValueError, match="refused to unpickle") as info:
        C.read_cifar_meta(path)
    _one_line_naming(info, path)
    assert not marker.exists()


def test_numpy_reconstruct_with_arguments_numpy_never_writes_is_refused(tmp_path):
    # a 10^12-element array from _reconstruct would try to allocate before any check
    raw = _py2_style(pickle.dumps(np.zeros(0, np.uint8), protocol=2))
    huge = raw.replace(b"K\x00\x85", b"\x8a\x05\x00\x10\xa5\xd4\xe8\x85")  # (0,) -> (10**12,)
    assert huge != raw
    path = tmp_path / "huge.pkl"
    path.write_bytes(huge)
    with pytest.raises(ValueError, match="refused to unpickle numpy _reconstruct"):
        load_data_pickle(path)


@pytest.mark.parametrize(
    "raw",
    [
        b"\x80\x02cnumpy\ndtype\n}U\x01aK\x01sb.",  # BUILD with a dict: set the constructor's __dict__
        b"\x80\x02cnumpy\ndtype\nN}U\x0c__defaults__K\x01s\x86b.",  # BUILD with slot state
        b"\x80\x02cnumpy\nndarray\n)\x81.",  # NEWOBJ: numpy.ndarray(shape) allocates unchecked
        b"\x80\x02cnumpy\nndarray\n.",  # the ndarray token itself as data
    ],
    ids=["build-dict", "build-slots", "newobj-ndarray", "ndarray-token"],
)
def test_allowed_globals_cannot_be_altered_or_misused(tmp_path, raw):
    path = tmp_path / "crafted.pkl"
    path.write_bytes(raw)
    with pytest.raises(ValueError) as info:
        load_data_pickle(path)
    _one_line_naming(info, path)
    # the constructors still behave: a normal batch loads afterwards
    path.write_bytes(pickle.dumps(_batch(), protocol=2))
    assert load_data_pickle(path)[b"data"].shape == (4, 3072)


@pytest.mark.parametrize("flags", [0x01, 0x02, 0x1F, 0x7F])
def test_dtype_state_with_object_flags_is_refused(tmp_path, flags):
    # flags that make numpy treat uint64 items as object pointers must not reach numpy
    raw = pickle.dumps(np.arange(3, dtype=np.uint64), protocol=2)
    plain = b"J\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t"  # elsize, alignment, flags = 0
    assert raw.count(plain) == 1
    path = tmp_path / "flags.pkl"
    path.write_bytes(raw.replace(plain, plain[:-2] + bytes([flags]) + b"t"))
    with pytest.raises(ValueError, match="refused to unpickle dtype flags of an object dtype"):
        load_data_pickle(path)


def test_mnist_pickle_with_code_is_refused(tmp_path):
    marker = tmp_path / "MARKER"
    path = tmp_path / "mnist.pkl.gz"
    with gzip.open(path, "wb") as fh:
        pickle.dump(((Payload(marker), None), None, None), fh, protocol=2)
    with pytest.raises(ValueError, match="refused to unpickle global") as info:
        D.read_mnist_pickle(path)
    _one_line_naming(info, path)
    assert not marker.exists()


# ------------------------------------------------------------------------ real files still load


@pytest.mark.parametrize(
    "protocol, style",
    [(0, "python3"), (2, "python3"), (4, "python3"), (5, "python3")]
    + [(0, "python2-numpy1"), (2, "python2-numpy1")],  # Python 2 writes protocols 0-2
)
def test_real_cifar_batch_and_meta_load(tmp_path, protocol, style):
    batch = _batch(seed=protocol)
    raw = pickle.dumps(batch, protocol=protocol)
    meta = pickle.dumps(cifar_meta(), protocol=protocol)
    if style == "python2-numpy1":
        raw, meta = _py2_style(raw), _py2_style(meta)
    (tmp_path / "data_batch_1").write_bytes(raw)
    (tmp_path / "batches.meta").write_bytes(meta)
    data, labels = C._read_cifar_batch(tmp_path / "data_batch_1")
    assert np.array_equal(data, batch[b"data"]) and labels.tolist() == batch[b"labels"]
    assert C.read_cifar_meta(tmp_path / "batches.meta")[9] == "truck"


def test_python2_cpickle_cifar_batch_loads(tmp_path):
    data = np.random.default_rng(7).integers(0, 256, (3, 3072)).astype(np.uint8)
    path = tmp_path / "data_batch_1"
    path.write_bytes(python2_batch(data, [3, 1, 9]))
    got, labels = C._read_cifar_batch(path)
    assert np.array_equal(got, data) and labels.tolist() == [3, 1, 9]


def test_real_mnist_pickle_format_loads(tmp_path):
    rng = np.random.default_rng(3)
    parts = [
        (rng.integers(0, 256, (n, 784)).astype(np.float32) / 256, rng.integers(0, 10, n))
        for n in (5, 3, 4)
    ]
    path = tmp_path / "mnist.pkl.gz"
    with gzip.open(path, "wb") as fh:
        pickle.dump(tuple(parts), fh, protocol=2)
    (x, y), (xt, yt) = D.read_mnist_pickle(path)
    assert x.shape == (8, 1, 28, 28) and xt.shape == (4, 1, 28, 28)
    assert torch.equal(y, torch.from_numpy(np.concatenate([parts[0][1], parts[1][1]])))
    assert torch.equal(xt.reshape(4, -1), torch.from_numpy(parts[2][0]))


# ---------------------------------------------------------------------------------------- caches


def _cache_arrays(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x": rng.normal(size=(6, 5)).astype(np.float32),
        "y": rng.integers(0, 10, 6),
        "x_test": rng.normal(size=(3, 5)).astype(np.float32),
        "y_test": rng.integers(0, 10, 3),
    }


@pytest.mark.parametrize("kind", ["object-member", "pickle-file", "torch-file"])
def test_cache_with_code_is_refused_and_kept(tmp_path, kind):
    marker = tmp_path / "MARKER"
    path = tmp_path / "mnist1d.npz"
    if kind == "object-member":
        arrays = _cache_arrays()
        arrays["x"] = np.array([Payload(marker)], dtype=object)
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)  # numpy pickles the object array into the .npy member
    elif kind == "pickle-file":
        path.write_bytes(pickle.dumps(Payload(marker)))
    else:
        torch.save({"x": Payload(marker)}, path)
    before = path.read_bytes()
    with pytest.raises(ValueError) as info:
        D.load_mnist1d(tmp_path)
    text = _one_line_naming(info, path)
    assert "MNIST-1D cache" in text and "delete it" in text
    assert not marker.exists()
    assert path.read_bytes() == before  # not overwritten by a regenerated cache


def test_foreign_cifar_cache_through_the_cli_is_one_line_and_kept(tmp_path, capsys):
    marker = tmp_path / "MARKER"
    for name in [*C.CIFAR_TRAIN, *C.CIFAR_TEST]:
        (tmp_path / name).write_bytes(pickle.dumps(_batch()))
    cache = tmp_path / "cache" / "cifar10-zca.npz"
    cache.parent.mkdir()
    torch.save({"x": Payload(marker)}, cache)
    before = cache.read_bytes()
    argv = ["train", "--model", "allcnn", "--optim", "sgd", "--budget", "1", "--quiet"]
    argv += ["--out", str(tmp_path / "run"), "--data-dir", str(tmp_path)]
    assert main([*argv, "--cache-dir", str(cache.parent)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{cache}: not a deeprelax CIFAR-10 cache" in err, err
    assert cache.read_bytes() == before and not marker.exists()


def test_cache_of_other_shapes_is_refused(tmp_path):
    arrays = _cache_arrays()
    arrays["y"] = arrays["y"][:4]
    save_arrays(tmp_path / "mnist1d.npz", arrays)
    with pytest.raises(ValueError, match="x .6, 5. and y .4,. do not fit") as info:
        D.load_mnist1d(tmp_path)
    _one_line_naming(info, tmp_path / "mnist1d.npz")
    save_arrays(tmp_path / "c" / "cifar10-zca.npz", _cache_arrays())
    for name in [*C.CIFAR_TRAIN, *C.CIFAR_TEST]:
        (tmp_path / name).write_bytes(pickle.dumps(_batch()))
    with pytest.raises(ValueError, match="cifar10-zca.npz: not a deeprelax CIFAR-10 cache"):
        D.load_cifar10(tmp_path, tmp_path / "c")


def test_real_cache_round_trip(tmp_path):
    arrays = _cache_arrays()
    save_arrays(tmp_path / "mnist1d.npz", arrays)
    (x, y), (xt, yt) = D.load_mnist1d(tmp_path)
    assert torch.equal(x, torch.from_numpy(arrays["x"])) and y.dtype == torch.int64
    assert torch.equal(yt, torch.from_numpy(arrays["y_test"]))
    with pytest.raises(ValueError, match="Invalid arrays value: 'x'"):
        save_arrays(tmp_path / "o.npz", {"x": np.array([None], dtype=object)})


# ------------------------------------------------------------------------------------ checkpoints


def _checkpoint(path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    progress = {"steps": 1, "metrics": [{"test_error": 50.0}], "rng": torch.get_rng_state()}
    return save_checkpoint(
        path,
        config={"model": "linear", "seed": 0},
        model_state=model.state_dict(),
        optimizer_state=opt.state_dict(),
        progress=progress,
    )


@pytest.mark.parametrize("kind", ["torch-zip", "plain-pickle"])
def test_checkpoint_with_code_is_refused_in_one_line(tmp_path, kind):
    marker = tmp_path / "MARKER"
    path = tmp_path / "checkpoint.pt"
    blob = {"format": "deeprelax-checkpoint-v1", "config": {}, "progress": Payload(marker)}
    if kind == "torch-zip":
        torch.save(blob, path)
    else:
        path.write_bytes(pickle.dumps(blob, protocol=2))
    with pytest.raises(ValueError) as info:
        load_checkpoint(path)
    text = _one_line_naming(info, path)
    assert "refused to unpickle global posix.system" in text
    assert "weights_only" not in text  # never the advice to load it unsafely
    assert not marker.exists()


def test_checkpoint_of_wrong_layout_is_refused(tmp_path):
    path = _checkpoint(tmp_path / "ck.pt")
    blob = torch.load(path, weights_only=True)
    blob["model_state"] = [1, 2]
    torch.save(blob, path)
    with pytest.raises(ValueError, match="ck.pt: not a deeprelax checkpoint .model_state is a"):
        load_checkpoint(path)
    torch.save({"weight": torch.zeros(2)}, path)  # someone's plain state_dict
    with pytest.raises(ValueError, match="ck.pt: not a deeprelax checkpoint .format None"):
        load_checkpoint(path)


def test_real_checkpoint_loads(tmp_path):
    path = _checkpoint(tmp_path / "checkpoint.pt")
    blob = load_checkpoint(path)
    assert blob["config"]["model"] == "linear" and blob["progress"]["steps"] == 1
    assert blob["optimizer_state"]["state"][0]["momentum_buffer"].shape == (2, 3)
