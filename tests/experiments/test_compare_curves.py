"""scripts/compare_curves.py: the phase-by-phase comparison quoted in docs/results.md."""

import pytest
from test_report import fake_run

from deeprelax.experiments.results import export_runs
from tests.support.files import load_file


@pytest.fixture(scope="module")
def compare_curves():
    return load_file("scripts/compare_curves.py", "compare_curves")


def test_phases_follow_the_learning_rate_schedule(compare_curves):
    assert compare_curves.phases("mnistfc", 0.125) == [(0, 25), (25, 100), (100, 150), (150, 200)]
    assert compare_curves.phases("lenet", 0.0) == [(0, 50), (50, 75), (75, 100)]


def test_counts_differences_and_reach_from_committed_results(compare_curves, tmp_path, capsys):
    runs = tmp_path / "runs"
    fake_run(runs, "mnistfc", "sgd", 0, [3.0, 2.0, 1.0])
    fake_run(runs, "mnistfc", "sgd", 1, [3.0, 2.0, 1.2])  # seed mean 3.0, 2.0, 1.1
    fake_run(runs, "mnistfc", "entropy-sgd", 0, [2.0, 2.5, 0.9])
    fake_run(runs, "mnistfc", "entropy-sgd", 1, [2.0, 1.5, 1.1])  # seed mean 2.0, 2.0, 1.0
    export_runs(runs, tmp_path / "results", machine="test", quiet=True)
    assert compare_curves.main([str(tmp_path / "results")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("mnistfc: entropy-sgd (seeds 42, 43) against sgd (seeds 42, 43)")
    assert out[1] == (
        "  EE (0, 25]: ahead at 2 of 3 evaluations, at or below at 3; mean difference -0.367 points"
    )
    assert out[2] == "  SGD's error at 3 EE (1.10 %): reached at 3.0 EE"
    # Seed 43 of Entropy-SGD reaches 1.10 % at its last evaluation (1.1 <= 1.1), seed 42 too (0.9);
    # SGD's seed 43 never gets down to its own mean (1.2).
    assert out[3] == (
        "  per seed: final error 0.90, 1.10 % (SGD 1.00, 1.20 %); SGD's final mean error "
        "(1.10 %) first reached at 3, 3 EE (SGD's seeds: 3, never EE)"
    )
    assert out[4] == "  per seed: 60.0, 60.0 s per EE on the runs' clocks (SGD 60.0, 60.0)"
    # Welch by hand: means 1.0 and 1.1, sample variances 0.02 each, so t = -0.1 / sqrt(0.02)
    # = -0.71 with 2 degrees of freedom: two-sided p = 1 - |t| / sqrt(2 + t^2) = 0.55.
    assert out[5] == (
        "  final error, mean difference -0.100 points: Welch t = -0.71, two-sided p = 0.55"
    )
    assert len(out) == 6


def test_one_seed_gets_no_t_test(compare_curves, tmp_path, capsys):
    runs = tmp_path / "runs"
    fake_run(runs, "mnistfc", "sgd", 0, [3.0, 2.0, 1.0])
    fake_run(runs, "mnistfc", "sgd", 1, [3.0, 2.0, 1.2])
    fake_run(runs, "mnistfc", "hj", 0, [3.0, 2.5, 1.5])
    export_runs(runs, tmp_path / "results", machine="test", quiet=True)
    assert compare_curves.main([str(tmp_path / "results")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2].startswith("  per seed: final error 1.50 % (SGD 1.00, 1.20 %)")
    assert out[-2].endswith("first reached at never EE (SGD's seeds: 3, never EE)")
    assert not any("Welch" in line for line in out)


def test_a_missing_results_folder_is_one_line_and_exit_1(compare_curves, tmp_path, capsys):
    assert compare_curves.main([str(tmp_path / "nothing")]) == 1
    assert "not a results folder" in capsys.readouterr().err
