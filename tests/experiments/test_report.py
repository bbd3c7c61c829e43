"""Export of finished runs to results/, and the report generated from those files alone."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from deeprelax.cli import main
from deeprelax.experiments import grid
from deeprelax.experiments.checkpoint import save_checkpoint
from deeprelax.experiments.report import (
    BEGIN,
    END,
    report_figures,
    report_markdown,
    write_into_page,
)
from deeprelax.experiments.results import export_runs

ROOT = Path(__file__).resolve().parents[2]


def _rows(errors, walls=None, step=1.0):
    walls = walls or [60.0 * (i + 1) for i in range(len(errors))]
    return [
        {
            "effective_epochs": step * (i + 1),
            "grad_evals": 469 * (i + 1),
            "steps": 469 * (i + 1),
            "train_loss": 0.1,
            "test_loss": 0.05,
            "test_error": e,
            "lr": 0.1,
            "wall_s": w,
        }
        for i, (e, w) in enumerate(zip(errors, walls))
    ]


def fake_run(runs, model, method, index, errors, walls=None, status="finished", spec=None):
    """A run folder as the trainer leaves it (summary with the grid's configuration)."""
    spec = spec or grid.grid_spec(model, method, index).config()
    rows = _rows(errors, walls)
    folder = runs / model / method / f"seed{index}"
    folder.mkdir(parents=True)
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = {
        "status": status,
        "config": spec,
        "train_config": {"budget": spec["budget"], "until": None, "quiet": True, "stop_at": None},
        "batches_per_epoch": 469,
        "final": rows[-1],
        "wall_s": rows[-1]["wall_s"],
    }
    (folder / "summary.json").write_text(json.dumps(summary))
    (folder / "checkpoint.pt").write_bytes(b"not copied")
    return folder


@pytest.fixture
def results(tmp_path):
    runs = tmp_path / "runs"
    fake_run(runs, "mnistfc", "sgd", 0, [3.0, 2.0, 1.0], [100, 200, 300])
    fake_run(runs, "mnistfc", "sgd", 1, [3.0, 2.0, 1.2], [110, 210, 310])
    fake_run(runs, "mnistfc", "entropy-sgd", 0, [2.0, 1.0, 0.9], [400, 800, 1200])
    fake_run(runs, "mnistfc", "entropy-sgd", 1, [2.0, 1.2, 1.1], [420, 820, 1220])
    fake_run(runs, "mnistfc", "hj", 0, [3.0, 2.5, 2.0], status="paused")  # not exported
    fake_run(runs, "lenet", "sgd", 2, [1.0, 0.6])
    dest = tmp_path / "results" / "mnist"
    written = export_runs(runs, dest, machine="test machine", quiet=True)
    assert len(written) == 5
    return dest


def test_export_layout_uses_actual_seeds_and_never_checkpoints(results):
    files = sorted(str(p.relative_to(results)) for p in results.rglob("*") if p.is_file())
    assert "mnistfc/sgd/seed42/metrics.jsonl" in files and "lenet/sgd/seed44/config.json" in files
    assert not any(f.endswith(".pt") for f in files) and not (results / "mnistfc" / "hj").exists()
    config = json.loads((results / "mnistfc/sgd/seed43/config.json").read_text())
    assert config["run"]["seed"] == 43 and config["grid_protocol"] is True
    assert config["machine"] == "test machine" and "until" not in config["train"]


def test_report_statistics_reach_and_wall_clock(results):
    text = report_markdown(results)
    rows = {
        line.split("|")[1].strip(): line.split("|")
        for line in text.split("### lenet")[0].splitlines()
        if line.startswith("| ")
    }
    sgd, esgd = rows["sgd"], rows["entropy-sgd"]
    assert sgd[2].strip() == "42, 43"
    assert sgd[3].strip() == f"{np.mean([1.0, 1.2]):.2f} ± {np.std([1.0, 1.2], ddof=1):.2f} @ 3.0"
    assert "EE to reach SGD's final (1.10 %)" in text
    # Entropy-SGD's seed-mean curve (2.0, 1.1, 1.0) first reaches 1.10 at 2 EE, at 810 s
    assert esgd[5].strip() == "2.0" and esgd[6].strip() == "13.5 min"
    assert sgd[5].strip() == "3.0" and sgd[6].strip() == "5.1 min"
    assert esgd[4].strip() == f"{np.mean([0.9, 1.1]):.2f} ± 0.14 @ 3.0"
    assert esgd[7].strip() == grid.PAPER_CELLS[("mnistfc", "entropy-sgd")]
    assert text.index("### mnistfc") < text.index("### lenet")
    assert "Machines: test machine." in text
    assert report_markdown(results) == text  # deterministic


def test_report_figures_and_cli(results, tmp_path, capsys):
    paths = report_figures(results, tmp_path / "figs")
    assert sorted(p.name for p in paths) == ["lenet_valid.png", "mnistfc_valid.png"]
    assert all(p.stat().st_size > 10_000 for p in paths)
    assert main(["report", str(results), "--no-figures"]) == 0
    assert capsys.readouterr().out == report_markdown(results) + "\n"
    assert main(["report", str(tmp_path / "nowhere")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.endswith("nowhere: not a results folder") and "\n" not in err


def test_report_refuses_mixed_configurations(tmp_path):
    runs = tmp_path / "runs"
    fake_run(runs, "lenet", "sgd", 0, [1.0])
    other = grid.grid_spec("lenet", "sgd", 1, scale=0.5).config()
    fake_run(runs, "lenet", "sgd", 1, [1.0], spec=other)
    export_runs(runs, tmp_path / "res", quiet=True)
    assert "not the grid's protocol" not in json.dumps(other)
    with pytest.raises(ValueError, match="seed43/config.json: configuration differs"):
        report_markdown(tmp_path / "res")


def test_export_recovers_a_run_without_summary_from_its_checkpoint(tmp_path):
    spec = grid.grid_spec("lenet", "sgd", 0, scale=0.02).config()  # budget 2 EE
    rows = _rows([1.5, 0.9])
    folder = tmp_path / "runs" / "lenet" / "sgd" / "seed0"
    progress = {"metrics": rows, "wall_s": 130.0}
    model = torch.nn.Linear(2, 1)
    states = dict(
        model_state=model.state_dict(),
        optimizer_state=torch.optim.SGD(model.parameters(), lr=0.1).state_dict(),
    )
    save_checkpoint(folder / "checkpoint.pt", config=spec, progress=progress, **states)
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (written,) = export_runs(tmp_path / "runs", tmp_path / "res", quiet=True)
    summary = json.loads((written / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["recovered_from"] == "checkpoint.pt"
    assert summary["final"]["test_error"] == 0.9 and summary["best"]["test_error"] == 0.9
    assert json.loads((written / "config.json").read_text())["grid_protocol"] is False
    # an unfinished checkpoint (budget not reached) is not exported
    spec["budget"] = 10.0
    save_checkpoint(folder / "checkpoint.pt", config=spec, progress=progress, **states)
    assert export_runs(tmp_path / "runs", tmp_path / "res2", quiet=True) == []


def test_export_refuses_to_overwrite_another_run(tmp_path, results):
    runs = tmp_path / "other"
    spec = grid.grid_spec("lenet", "sgd", 2, scale=0.5).config()
    fake_run(runs, "lenet", "sgd", 2, [0.7], spec=spec)
    with pytest.raises(ValueError, match="seed44/config.json: holds a different run"):
        export_runs(runs, results, quiet=True)


def test_report_into_a_page_between_markers(results, tmp_path):
    page = tmp_path / "page.md"
    page.write_text(f"# Results\n\nbefore\n{BEGIN}\nold table\n{END}\nafter\n")
    assert main(["report", str(results), "--no-figures", "--into", str(page)]) == 0
    text = page.read_text()
    assert text.startswith("# Results\n\nbefore\n") and text.endswith(f"{END}\nafter\n")
    assert text.split(BEGIN)[1].split(END)[0].strip() == report_markdown(results).strip()
    page.write_text("no markers")
    with pytest.raises(ValueError, match="page.md: needs one"):
        write_into_page(page, "x")


def test_docs_results_tables_are_the_report_of_committed_results():
    results = ROOT / "results" / "mnist"
    if not results.is_dir():
        pytest.skip("results/mnist is not committed yet")
    page = (ROOT / "docs" / "results.md").read_text()
    assert BEGIN in page and END in page, f"docs/results.md lacks the {BEGIN} ... {END} markers"
    inside = page.split(BEGIN, 1)[1].split(END, 1)[0]
    assert inside.strip() == report_markdown(results).strip()
