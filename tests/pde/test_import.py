"""deeprelax.pde must import and run without torch."""

import subprocess
import sys
import textwrap


def test_pde_imports_without_torch():
    code = textwrap.dedent(
        """
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ImportError("torch is blocked in this test")
                return None
        sys.meta_path.insert(0, Block())
        import numpy as np
        import deeprelax.pde as pde
        from deeprelax.pde import claims, solvers
        x = np.linspace(-1, 1, 101)
        pde.hopf_lax(x**2, x[1] - x[0], 0.1)
        pde.cole_hopf(x**2, x[1] - x[0], 0.1, 10.0)
        assert "torch" not in sys.modules
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
