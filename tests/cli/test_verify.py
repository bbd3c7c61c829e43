"""`deeprelax verify` through the CLI."""

from deeprelax.cli import main


def test_verify_subset_passes(capsys):
    assert main(["verify", "--only", "4", "7", "12"]) == 0
    out = capsys.readouterr().out
    assert out.count("[PASS]") == 3 and "3/3 claims pass" in out


def test_verify_bad_claim_number(capsys):
    assert main(["verify", "--only", "99"]) == 1
    assert "Invalid --only value" in capsys.readouterr().err
