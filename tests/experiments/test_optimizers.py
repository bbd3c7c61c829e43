"""The one optimizer registry: defaults read from the class signatures, the command line's names
mapped to the class keywords (the elastic coupling ``rho`` -> ``kappa``, the process group), and the
defaults a replica run writes into its configuration."""

from __future__ import annotations

import warnings

import pytest
import torch

from deeprelax.experiments import optimizers as registry
from deeprelax.experiments.optimizers import build_optimizer, class_defaults, replica_hyper


class _Recorder(torch.optim.SGD):
    def __init__(self, params, lr=0.1, **kwargs):
        super().__init__(params, lr=lr)
        self.kwargs = kwargs


class OldParle(_Recorder):
    """The keywords before the rename: the elastic coupling is ``rho``, the group ``group``."""

    def __init__(self, params, lr=0.1, *, L=25, rho=1.0, rho_max=10.0, group=None, generator=None):
        super().__init__(params, lr, L=L, rho=rho, rho_max=rho_max, group=group)


class NewParle(_Recorder):
    """After it: ``kappa``, ``kappa_max``, ``process_group``; the old names warn (via kwargs)."""

    def __init__(
        self, params, lr=0.1, *, L=25, rho=0.0, kappa=1.0, kappa_max=10.0, process_group=None,
        **deprecated,
    ):  # fmt: skip
        if deprecated:
            warnings.warn(f"deprecated: {sorted(deprecated)}", DeprecationWarning, stacklevel=2)
        super().__init__(params, lr, L=L, rho=rho, kappa=kappa, kappa_max=kappa_max,
                         process_group=process_group)  # fmt: skip


@pytest.fixture(params=[OldParle, NewParle], ids=["before-rename", "after-rename"])
def parle_class(request, monkeypatch):
    monkeypatch.setitem(registry.OPTIMIZERS, "parle", (__name__, request.param.__name__))
    return request.param


def _params():
    return [torch.nn.Parameter(torch.zeros(2))]


def test_command_line_names_reach_the_class_keywords_without_warnings(parle_class):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt = build_optimizer("parle", _params(), {"L": 3, "rho": 0.5, "rho_max": 2.0})
    if parle_class is NewParle:
        assert opt.kwargs == dict(L=3, rho=0.0, kappa=0.5, kappa_max=2.0, process_group=None)
    else:
        assert opt.kwargs == dict(L=3, rho=0.5, rho_max=2.0, group=None)


def test_defaults_come_from_the_signature_under_the_command_line_names(parle_class):
    assert class_defaults("parle") == {"lr": 0.1, "L": 25, "rho": 1.0, "rho_max": 10.0, **(
        {"process_group": None} if parle_class is NewParle else {"group": None, "generator": None}
    )}  # fmt: skip


def test_unknown_hyper_parameter_is_named(parle_class):
    with pytest.raises(ValueError, match="Invalid hyper-parameter for parle: damping"):
        build_optimizer("parle", _params(), {"damping": 0.3})


def test_replica_runs_record_the_same_defaults_as_before():
    """The run configuration saved in checkpoints and summary.json: key order and values."""
    parle = replica_hyper("parle", {"L": 3, "momentum": 0.5, "rho": 0.5, "noise": None}, 469)
    assert list(parle.items()) == [
        ("L", 3), ("gamma", 0.01), ("rho", 0.5), ("scoping", 0.5 / 469), ("gamma_max", 1.0),
        ("rho_max", 10.0), ("inner_lr", 0.1), ("noise", 0.0), ("alpha", 1.0), ("momentum", 0.5),
    ]  # fmt: skip
    assert replica_hyper("parle", {"scoping": 0.01}, 469)["scoping"] == 0.01
    elastic = replica_hyper("elastic-sgd", {}, 469)
    assert list(elastic.items()) == [("rho", 0.03), ("scoping", 1e-4), ("rho_max", 10.0)]
    assert replica_hyper("entropy-sgd", {"L": 5}, 469) == {"L": 5}


def test_every_name_builds():
    for name in registry.OPTIMIZERS:
        opt = build_optimizer(name, _params(), {"lr": 0.1})
        assert isinstance(opt, torch.optim.Optimizer), name
