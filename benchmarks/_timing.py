"""What the per-gradient-evaluation benchmarks share: their common options, the random
MNIST-shaped data, and one optimizer setup timed per gradient evaluation.

Imported by ``step_overhead.py``, ``fused_overhead.py`` and ``fused_floor.py`` (run as scripts
from the repository root, so this folder is on ``sys.path``).
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable

import torch

from deeprelax.experiments.models import build_model

BATCH = 128


def add_common_args(parser: argparse.ArgumentParser, rounds: int) -> None:
    """``--rounds --evals --L --device --threads``, with the benchmarks' defaults."""
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument(
        "--evals", type=int, default=40, help="gradient evaluations per timing (a multiple of L)"
    )
    parser.add_argument("--L", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")


def setup(args: argparse.Namespace) -> tuple[torch.device, torch.Tensor, torch.Tensor]:
    """Apply ``--threads``; the device and 4,096 random MNIST-shaped images with labels."""
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    data = torch.rand(4096, 1, 28, 28, device=device)
    labels = torch.randint(0, 10, (4096,), device=device)
    return device, data, labels


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


class Timed:
    """A paper model and an optimizer (``make``; None: the closure alone), timed per evaluation.

    ``step_only``: the closure returns a stored loss and leaves one stored gradient in ``.grad``
    (no forward or backward), so only the optimizer is timed.  ``randn``: one ``normal_`` of the
    whole parameter vector after every step (the noisy methods' floor).  After each ``time``:
    ``minflt``, the process's minor page faults per evaluation, and with ``split`` ``inside``, the
    (wall-clock, CPU) seconds per evaluation spent inside the closure (the step's own time is the
    rest).
    """

    def __init__(
        self,
        model_name: str,
        make: Callable | None,
        device: torch.device,
        data: torch.Tensor,
        labels: torch.Tensor,
        step_only: bool = False,
        randn: bool = False,
        split: bool = False,
    ):
        torch.manual_seed(0)
        self.model = build_model(model_name).to(device).train()
        self.opt = make(list(self.model.parameters())) if make else None
        self.device, self.data, self.labels = device, data, labels
        self.loss_fn = torch.nn.CrossEntropyLoss()
        self.step_only = step_only
        self.split = split
        self.inside = (0.0, 0.0)
        self.minflt = 0.0
        self.noise = [torch.empty_like(p) for p in self.model.parameters()] if randn else None
        self.gen = torch.Generator(device=device).manual_seed(1)
        if step_only:
            loss = self.loss_fn(self.model(data[:BATCH]), labels[:BATCH])
            loss.backward()
            self.loss = loss.detach()

    def time(self, evals: int) -> tuple[float, float]:
        """(wall-clock, process CPU) seconds per gradient evaluation over ``evals`` of them."""
        idx_gen = torch.Generator().manual_seed(2)
        model, opt = self.model, self.opt
        inside = [0.0, 0.0]

        def closure():
            if self.step_only:
                return self.loss
            if self.split:
                sync(self.device)
                t0, c0 = time.perf_counter(), time.process_time()
                loss = forward_backward()
                sync(self.device)
                inside[0] += time.perf_counter() - t0
                inside[1] += time.process_time() - c0
                return loss
            return forward_backward()

        def forward_backward():
            model.zero_grad()
            idx = torch.randint(0, len(self.data), (BATCH,), generator=idx_gen).to(self.device)
            loss = self.loss_fn(model(self.data[idx]), self.labels[idx])
            loss.backward()
            return loss

        per_step = getattr(opt, "evals_per_step", 1)
        steps = max(1, evals // per_step)
        sync(self.device)
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(steps):
            if opt is None:
                closure()
            else:
                opt.step(closure)
            if self.noise is not None:
                for z in self.noise:
                    z.normal_(generator=self.gen)
        sync(self.device)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        done = steps * per_step
        self.minflt = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / done
        self.inside = (inside[0] / done, inside[1] / done)
        return wall / done, cpu / done
