"""What reading files as data costs: each checked reader against the unchecked call it replaces.

* a CIFAR-10 python batch (10,000 x 3,072 uint8, pickled): ``load_data_pickle`` (restricted
  unpickler + a walk over the result) against ``pickle.load``;
* the whitened CIFAR-10 cache: ``load_arrays`` (.npz, dtype/shape checks, zip CRC-32s) against
  ``torch.load(weights_only=True)`` of the same arrays in a ``.pt``;
* an All-CNN checkpoint with its optimizer state: ``load_checkpoint`` (zip CRC-32s, weights-only
  load, layout check) against ``torch.load(weights_only=True)``.

Both sides of each pair run in this process on the same file, interleaved, best of ``--repeats``.

    python benchmarks/untrusted_readers.py                 # cache of 10,000 images
    python benchmarks/untrusted_readers.py --images 60000  # the full CIFAR-10 cache (~740 MB)
"""

from __future__ import annotations

import argparse
import pickle
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from deeprelax.experiments.array_cache import SPLIT_SPEC, load_arrays, save_arrays
from deeprelax.experiments.checkpoint import load_checkpoint, save_checkpoint
from deeprelax.experiments.models import build_model
from deeprelax.experiments.safe_pickle import load_data_pickle


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def pair(name: str, checked, plain, repeats: int) -> None:
    t_checked, t_plain = best(checked, repeats), best(plain, repeats)
    print(
        f"{name:<22} {t_checked * 1e3:9.1f} ms {t_plain * 1e3:9.1f} ms {t_checked / t_plain:7.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000, help="images in the cache")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    print(f"{'file':<22} {'checked':>12} {'unchecked':>12} {'ratio':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        batch = {
            b"data": rng.integers(0, 256, (10_000, 3072), dtype=np.uint8),
            b"labels": rng.integers(0, 10, 10_000).tolist(),
        }
        (folder / "data_batch_1").write_bytes(pickle.dumps(batch, protocol=2))

        def plain_pickle():
            with open(folder / "data_batch_1", "rb") as fh:
                pickle.load(fh, encoding="bytes")

        pair(
            "CIFAR-10 batch",
            lambda: load_data_pickle(folder / "data_batch_1"),
            plain_pickle,
            args.repeats,
        )

        n, n_test = args.images, max(args.images // 5, 1)
        arrays = {
            "x": rng.standard_normal((n, 3, 32, 32), dtype=np.float32),
            "y": rng.integers(0, 10, n),
            "x_test": rng.standard_normal((n_test, 3, 32, 32), dtype=np.float32),
            "y_test": rng.integers(0, 10, n_test),
        }
        save_arrays(folder / "cache.npz", arrays)
        torch.save({k: torch.from_numpy(v) for k, v in arrays.items()}, folder / "cache.pt")
        del arrays
        spec = {**SPLIT_SPEC, "x": ("float32", 4), "x_test": ("float32", 4)}
        pair(
            f"cache ({n} images)",
            lambda: load_arrays(folder / "cache.npz", spec),
            lambda: torch.load(folder / "cache.pt", weights_only=True),
            args.repeats,
        )

        model = build_model("allcnn")
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        model(torch.randn(2, 3, 32, 32)).sum().backward()
        opt.step()
        save_checkpoint(
            folder / "checkpoint.pt",
            config={"model": "allcnn"},
            model_state=model.state_dict(),
            optimizer_state=opt.state_dict(),
            progress={"steps": 1, "rng": torch.get_rng_state()},
        )
        pair(
            "All-CNN checkpoint",
            lambda: load_checkpoint(folder / "checkpoint.pt"),
            lambda: torch.load(folder / "checkpoint.pt", weights_only=True),
            args.repeats,
        )


if __name__ == "__main__":
    main()
