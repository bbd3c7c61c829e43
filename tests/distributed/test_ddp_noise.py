"""sync_noise under DDP: 2 gloo processes seeded differently per rank keep identical weights."""

from __future__ import annotations

import pytest
from ddp_noise_scenarios import battery
from replica_harness import WorkerError, run_workers


@pytest.fixture(scope="module")
def results() -> list[dict]:
    out = run_workers(battery, 2, timeout=180)
    for rank, r in enumerate(out):
        if isinstance(r, WorkerError):
            pytest.fail(f"rank {rank} failed: {r.type}: {r.message}\n{r.traceback}")
    return out


@pytest.mark.parametrize("cls", ["EntropySGD", "Heat"])
def test_sync_noise_keeps_replicas_identical(results, cls):
    for r in results:
        run = r[f"{cls}-True"]
        assert run["outer_steps"] == 3
        assert run["agree"] is True and run["deviation"] == 0.0
        assert run["warnings"] == []
        assert run["state_has_rng"]


def test_without_sync_noise_entropy_sgd_replicas_drift_and_a_warning_says_so(results):
    for r in results:
        run = r["EntropySGD-False"]
        assert run["agree"] is False and run["deviation"] > 1e-6
        assert len(run["warnings"]) == 1
        assert "sync_noise=True" in run["warnings"][0]


def test_heat_replicas_agree_without_sync_noise_and_no_warning(results):
    # Heat's noise only places the evaluation points; DDP averages the gradients taken there,
    # so the anchor is the same on every rank whatever each rank drew.
    for r in results:
        run = r["Heat-False"]
        assert run["agree"] is True and run["deviation"] == 0.0
        assert run["warnings"] == []
