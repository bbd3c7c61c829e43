"""FSDP2 (fully_shard, DTensor parameters) in 2 gloo processes on the CPU.

The relaxation optimizers step the shards (loop arithmetic: no foreach kernel takes DTensors),
each shard draws its own noise, a run is reproducible from one seed, and a
torch.distributed.checkpoint round trip taken mid-chain resumes bit for bit.
"""

from __future__ import annotations

import pytest
import torch
from fsdp2_scenarios import battery
from replica_harness import WorkerError, run_workers


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> list[dict]:
    path = str(tmp_path_factory.mktemp("fsdp2") / "ckpt")
    out = run_workers(battery, 2, path, timeout=240)
    for rank, r in enumerate(out):
        if isinstance(r, WorkerError):
            pytest.fail(f"rank {rank} failed: {r.type}: {r.message}\n{r.traceback}")
    return out


def test_sharded_steps_move_the_weights_and_ranks_see_one_model(results):
    first0, first1 = results[0]["first"], results[1]["first"]
    for a, b in zip(first0, first1):  # full_tensor() gathers the same model on both ranks
        assert torch.equal(a, b)
        assert torch.isfinite(a).all()
    assert any(not torch.equal(a, b) for a, b in zip(first0, results[0]["noise"]))


def test_reproducible_from_one_seed(results):
    for r in results:
        for a, b in zip(r["first"], r["again"]):
            assert torch.equal(a, b)
        for a, b in zip(*r["heat"]):
            assert torch.equal(a, b)


def test_each_shard_draws_its_own_noise(results):
    weight = results[0]["noise"][0]  # Linear(8, 16).weight, sharded by rows over 2 ranks
    assert weight.shape == (16, 8)
    top, bottom = weight[:8], weight[8:]
    assert top.abs().max() > 0 and bottom.abs().max() > 0  # zero loss: the move is the noise
    assert not torch.allclose(top, bottom)
    corr = torch.corrcoef(torch.stack([top.flatten(), bottom.flatten()]))[0, 1]
    assert abs(float(corr)) < 0.5


def test_dcp_round_trip_mid_chain_resumes_bit_for_bit(results):
    for r in results:
        uninterrupted, resumed = r["dcp"]
        for a, b in zip(uninterrupted, resumed):
            assert torch.equal(a, b)
