"""`deeprelax verify` and `deeprelax figure` through the CLI."""

import pytest

from deeprelax.cli import main


def test_verify_subset_passes(capsys):
    assert main(["verify", "--only", "4", "7", "12"]) == 0
    out = capsys.readouterr().out
    assert out.count("[PASS]") == 3 and "3/3 claims pass" in out


def test_verify_bad_claim_number(capsys):
    assert main(["verify", "--only", "99"]) == 1
    assert "Invalid --only value" in capsys.readouterr().err


@pytest.mark.slow
def test_figure_smoothing(tmp_path, capsys):
    assert main(["figure", "smoothing", "--out", str(tmp_path)]) == 0
    png = tmp_path / "smoothing.png"
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"
    out = capsys.readouterr().out
    # Figure 1's message: the relaxed densities end lower than SGD's
    means = {ln.split()[0]: float(ln.split("mean f =")[1]) for ln in out.splitlines() if "mean f" in ln}
    assert means["viscous"] < means["sgd"] - 1 and means["hopf_lax"] < means["sgd"] - 1
