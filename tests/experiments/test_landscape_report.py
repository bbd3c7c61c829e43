"""The landscape tables generated from committed analysis reports, and docs/landscape.md = them."""

import json
import shutil
from pathlib import Path

import pytest

from deeprelax.cli import main
from deeprelax.experiments.landscape_report import landscape_markdown, load_landscapes

ROOT = Path(__file__).resolve().parents[2]
BEGIN, END = "<!-- landscape:begin -->", "<!-- landscape:end -->"


def _report(top: float, loss: float = 1e-5) -> dict:
    return {
        "loss": loss,
        "top_eigenvalues": [top] + [top / (i + 2) for i in range(9)],
        "trace": {"estimate": 10 * top, "stderr": 0.1},
        "local_entropy": {"value_minus_loss": 2 * top},
        "sharpness": {"epsilon_sharpness": 100 * top, "sam_increase": top / 10},
    }


def _write(root: Path, model: str, method: str, seed: int, report) -> None:
    folder = root / model / method / f"seed{seed}" / "landscape"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "analysis.json").write_text(report if isinstance(report, str) else json.dumps(report))


def test_one_row_per_run_and_mean_std_over_seeds(tmp_path):
    _write(tmp_path, "mnistfc", "entropy-sgd", 42, _report(0.5))
    _write(tmp_path, "mnistfc", "sgd", 42, _report(0.2))
    _write(tmp_path, "mnistfc", "sgd", 43, _report(0.4))
    text = landscape_markdown(tmp_path)
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[1].startswith("| sgd | 42 | 1.00e-05 | 0.2000 |")  # SGD first, then the others
    assert rows[2].startswith("| sgd | 43 | 1.00e-05 | 0.4000 |")
    # mean 0.3, sample std 0.1414 of the top eigenvalues
    assert rows[3].startswith(
        "| **sgd** | mean ± std (2) | 1.00e-05 ± 0.00e+00 | 0.3000 ± 0.1414 |"
    )
    assert rows[4].startswith("| entropy-sgd | 42 |")
    assert len(rows) == 5  # no mean row for one seed


def test_a_corrupt_report_names_the_file(tmp_path):
    _write(tmp_path, "lenet", "sgd", 42, "{not json")
    with pytest.raises(ValueError, match=r"lenet/sgd/seed42/landscape/analysis\.json"):
        load_landscapes(tmp_path)


def test_report_command_writes_the_landscape_tables_into_a_page(tmp_path, capsys):
    results = tmp_path / "results"
    shutil.copytree(ROOT / "results" / "mnist", results)
    _write(results, "lenet", "sgd", 42, _report(0.2))
    page = tmp_path / "landscape.md"
    page.write_text(f"# Landscape\n\n{BEGIN}\nold\n{END}\nafter\n")
    assert main(["report", str(results), "--no-figures", "--landscape-into", str(page)]) == 0
    text = page.read_text()
    inside = text.split(BEGIN)[1].split(END)[0].strip()
    assert inside == landscape_markdown(results).strip()
    assert "| sgd | 42 | 1.00e-05 | 0.2000 |" in inside.split("### lenet")[1]
    assert text.endswith("after\n")
    assert "landscape tables written into" in capsys.readouterr().out


def test_docs_landscape_tables_are_those_of_the_committed_reports():
    results = ROOT / "results" / "mnist"
    if not any(results.glob("*/*/seed*/landscape/analysis.json")):
        pytest.skip("no landscape reports committed yet")
    page = (ROOT / "docs" / "landscape.md").read_text()
    assert BEGIN in page and END in page, f"docs/landscape.md lacks the {BEGIN} ... {END} markers"
    inside = page.split(BEGIN, 1)[1].split(END, 1)[0]
    assert inside.strip() == landscape_markdown(results).strip()
