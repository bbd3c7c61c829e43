import runpy
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "plain_loop.py"


def test_plain_loop_example_runs(capsys):
    main = runpy.run_path(str(EXAMPLE))["main"]
    main(effective_epochs=0.02)
    out = capsys.readouterr().out
    assert "after 0.02 effective epochs: test error" in out
    error = float(out.rsplit("test error", 1)[1].split("%")[0])
    assert error < 90.0  # ten training steps already beat chance (90 % error)
