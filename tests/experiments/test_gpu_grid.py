"""scripts/gpu_grid.py on a CPU with a tiny budget: the same code path the GPU call takes."""

import json
import tarfile

import pytest
from test_jobs import write_idx_mnist

from tests.support.files import load_file


@pytest.fixture(scope="module")
def gpu_grid():
    return load_file("scripts/gpu_grid.py", "gpu_grid")


def _members(archive):
    with tarfile.open(archive) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_gpu_grid_on_cpu_runs_exports_packs_then_skips_committed(tmp_path, gpu_grid, capsys):
    idx = str(write_idx_mnist(tmp_path / "idx"))
    common = ["--device", "cpu", "--scale", "0.005", "--seeds", "1", "--models", "mnistfc"]
    common += ["--data-dir", idx, "--runs", str(tmp_path / "runs"), "--jobs", "2"]
    done = tmp_path / "repo" / "results" / "mnist"
    argv = [str(tmp_path / "out"), *common, "--methods", "sgd,entropy-sgd", "--done", str(done)]
    assert gpu_grid.main(argv) == 0
    files = _members(tmp_path / "out" / "gpu_grid.tar.gz")
    for method in ("sgd", "entropy-sgd"):
        for name in ("metrics.jsonl", "summary.json", "config.json"):
            assert f"results/mnist/mnistfc/{method}/seed42/{name}" in files
    assert not any(name.endswith(".pt") for name in files)
    config = json.loads(files["results/mnist/mnistfc/sgd/seed42/config.json"])
    assert config["machine"] == "cpu, one thread per run" and config["run"]["budget"] == 1.0
    status = json.loads(files["gpu_grid/status.json"])
    assert status["status"] == "ok" and all("finished" in line for line in status["runs"])
    # unpacked at the repository root, those runs count as done: a second call trains nothing
    with tarfile.open(tmp_path / "out" / "gpu_grid.tar.gz") as tar:
        tar.extractall(tmp_path / "repo", filter="data")
    argv[0] = str(tmp_path / "out2")
    argv[argv.index("--runs") + 1] = str(tmp_path / "runs2")
    assert gpu_grid.main(argv) == 0
    status = json.loads(_members(tmp_path / "out2" / "gpu_grid.tar.gz")["gpu_grid/status.json"])
    assert status["runs"] == []


def test_gpu_grid_time_limit_starts_nothing_and_still_packs(tmp_path, gpu_grid):
    argv = [str(tmp_path / "out"), "--device", "cpu", "--time-limit", "1e-6", "--seeds", "1"]
    argv += ["--models", "mnistfc", "--methods", "sgd", "--runs", str(tmp_path / "runs")]
    argv += ["--data-dir", str(write_idx_mnist(tmp_path / "idx")), "--jobs", "1"]
    assert gpu_grid.main(argv) == 0
    files = _members(tmp_path / "out" / "gpu_grid.tar.gz")
    assert not [n for n in files if n.startswith("results/")]
    assert "time limit reached" in files["gpu_grid/log.txt"].decode()
