"""One gloo process group of 3 ranks runs every optimizer scenario once per session."""

from __future__ import annotations

import pytest
from replica_harness import WorkerError, run_workers
from replica_scenarios import battery

N_REPLICAS = 3


@pytest.fixture(scope="session")
def replica_results() -> list[dict]:
    results = run_workers(battery, N_REPLICAS, timeout=180)
    for rank, r in enumerate(results):
        if isinstance(r, WorkerError):
            pytest.fail(f"rank {rank} failed: {r.type}: {r.message}\n{r.traceback}")
    return results
