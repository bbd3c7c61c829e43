"""Optimizer state and peak memory of the relaxation optimizers against torch.optim.SGD.

For each method, on the paper's mnistfc (1.87 M parameters, batch 128), in float32 and with
bfloat16 parameters (state in float32 by default), the script prints

* the optimizer state in multiples of the parameter bytes (exact: the bytes of every state tensor);
* the peak memory of a few training steps, each method in a fresh process (CPU: the peak resident
  set; CUDA: ``torch.cuda.max_memory_allocated``), minus the same figure for SGD measured in the
  same run, in multiples of the parameter bytes.

Usage:  python benchmarks/state_memory.py [--device cpu|cuda] [--steps 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

METHODS = {
    "sgd": "torch.optim.SGD(ps, lr=0.01, momentum=0.9, nesterov=True)",
    "entropy-sgd": "EntropySGD(ps, lr=0.01, L=4)",
    "prox-sgd": "ProxSGD(ps, lr=0.01, L=4)",
    "hj": "HJ(ps, lr=0.01, L=3)",
    "heat": "Heat(ps, lr=0.01, L=3)",
}

CHILD = r"""
import json, resource, sys, torch
from deeprelax.experiments.models import build_model
from deeprelax.optim import HJ, EntropySGD, Heat, ProxSGD
torch.set_num_threads(1)
device, dtype, steps = sys.argv[1], getattr(torch, sys.argv[2]), int(sys.argv[3])
torch.manual_seed(0)
model = build_model("mnistfc").to(device=device, dtype=dtype).train()
ps = list(model.parameters())
opt = eval(sys.argv[4])
x = torch.rand(128, 1, 28, 28, device=device, dtype=dtype)
t = torch.randint(0, 10, (128,), device=device)
def closure():
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x).float(), t)
    loss.backward()
    return loss
if device.startswith("cuda"):
    torch.cuda.reset_peak_memory_stats()
for _ in range(steps):
    opt.step(closure)
state = sum(v.numel() * v.element_size() for s in opt.state.values() for v in s.values()
            if torch.is_tensor(v) and v.numel() > 1)
params = sum(p.numel() * p.element_size() for p in ps)
peak = (torch.cuda.max_memory_allocated() if device.startswith("cuda")
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
print(json.dumps({"state": state, "params": params, "peak": peak}))
"""


def measure(device: str, dtype: str, steps: int, make: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, device, dtype, str(steps), make],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    print(f"device {args.device}; mnistfc; multiples of the parameter bytes")
    print(f"{'method':<14}{'dtype':<10}{'state / params':>16}{'peak - SGD peak':>18}")
    for dtype in ("float32", "bfloat16"):
        base = measure(args.device, dtype, args.steps, METHODS["sgd"])
        for name, make in METHODS.items():
            r = base if name == "sgd" else measure(args.device, dtype, args.steps, make)
            extra = (r["peak"] - base["peak"]) / base["params"]
            print(f"{name:<14}{dtype:<10}{r['state'] / r['params']:>16.2f}{extra:>18.2f}")


if __name__ == "__main__":
    main()
