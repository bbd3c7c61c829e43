"""Test scaffolding: the synthetic data set, the tiny MLP and the SIGKILL fault injection.

None of it ships in the package. The library takes these through its public hooks
(:func:`deeprelax.experiments.run.run_experiment`'s ``data``, ``model_factory`` and
``closure_hook``); :mod:`tests.support.replica_main` is ``deeprelax train`` with them registered,
for the torchrun-launched tests.
"""

from .fault import fault_hook
from .smoke import SMOKE_MODELS, run_smoke, smoke_model, synthetic_dataset, tiny_mlp

__all__ = [
    "SMOKE_MODELS",
    "fault_hook",
    "run_smoke",
    "smoke_model",
    "synthetic_dataset",
    "tiny_mlp",
]
