"""examples/ddp.py and examples/fsdp2.py under torchrun with 2 CPU processes (gloo)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def torchrun(script: str, *args: str) -> str:
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    if os.path.isdir("/sys/class/net/lo"):
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(EXAMPLES / script),
        *args,
    ]
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{script} did not finish in 120 s: {exc.stderr!r}")
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_ddp_example_keeps_replicas_identical():
    out = torchrun("ddp.py", "--outer-steps", "6")
    assert "2 ranks, 30 gradient evaluations, 6 outer steps" in out
    assert "replicas agree: True" in out


def test_fsdp2_example_resumes_bit_for_bit():
    out = torchrun("fsdp2.py", "--outer-steps", "4")
    assert "2 ranks, 22 gradient evaluations" in out
    assert "resumed bit for bit: True" in out
