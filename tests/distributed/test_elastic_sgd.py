"""ElasticSGD: exact reductions, reference = replica mean, resume, faults (3 gloo processes)."""

from __future__ import annotations

import pytest
import torch
from replica_scenarios import flat, make_closure, tiny_model

from deeprelax.optim.replica import ElasticSGD, ReplicaNonFiniteError

N = 3


@pytest.fixture(scope="module")
def battery(replica_results) -> list[dict]:
    return [r["elastic"] for r in replica_results]


def test_rho0_equals_independent_sgd_per_replica(battery):
    # same ops in the same order as torch.optim.SGD in float64: bit for bit
    assert [r["rho0_vs_sgd"] for r in battery] == [0.0] * N


def test_reference_is_mean_of_replicas_after_every_step(battery):
    for r in battery:
        ref = r["reference"]
        assert all(ref["refs_agree"])
        # gloo sums 3 float64 values in some order; mean by stack().mean(): a few ulps of O(1)
        assert max(ref["errors"]) < 1e-14
        # the replicas really differ (different data), so the check is not vacuous
        assert min(ref["spreads"][1:]) > 1e-4
        assert ref["rho_last"] == pytest.approx(min(0.5 * 1.1**5, 1.0))


def test_state_dict_resume_is_exact(battery):
    for r in battery:
        assert r["resume"]["max_diff"] == 0.0
        assert r["resume"]["outer_steps"] == 6
        assert r["resume"]["grad_evals"] == 6


def test_nan_on_one_rank_stops_every_rank_naming_it(battery):
    for r in battery:
        kind, msg = r["nan"]
        assert kind == "ReplicaNonFiniteError"
        assert "rank 1 " in msg and "outer step 2" in msg


def test_mismatched_configuration_detected_at_start(battery):
    for r in battery:
        kind, msg = r["mismatch"]
        assert kind == "ValueError"
        assert "rank 1 has param_groups[0].lr=0.2 where rank 0 has 0.05" in msg
        assert "rank 2 has param_groups[0].lr=0.2" in msg


def test_process_subgroups(battery):
    for r in battery:
        assert r["subgroup"]["err"] < 1e-14


def test_one_flat_all_reduce_per_step(battery):
    for r in battery:
        c = r["comm"]
        assert c["calls"] == 4
        assert c["bytes"] == 4 * (c["numel"] + N) * 8  # float64 params + one flag per rank


def test_world_of_one_without_process_group_is_sgd():
    hyper = dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)
    m1, m2 = tiny_model(), tiny_model()
    o1 = ElasticSGD(m1.parameters(), kappa=5.0, scoping=0.3, **hyper)
    o2 = torch.optim.SGD(m2.parameters(), **hyper)
    c1, c2 = [0], [0]
    for _ in range(4):
        o1.step(make_closure(m1, o1, 0, c1))
        o2.step(make_closure(m2, o2, 0, c2))
    assert torch.equal(flat(m1), flat(m2))
    assert o1.grad_evals == 4 and o1.outer_steps == 4


def test_nan_single_process_raises_and_keeps_last_finite_params():
    m = tiny_model()
    o = ElasticSGD(m.parameters(), kappa=0.1)
    c = [0]
    o.step(make_closure(m, o, 0, c))
    before = flat(m).clone()
    with pytest.raises(ReplicaNonFiniteError, match="rank 0 "):
        o.step(make_closure(m, o, 0, c, nan_at=1))
    assert torch.equal(flat(m), before)
    assert isinstance(ReplicaNonFiniteError([0], 0), FloatingPointError)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        (dict(lr=-1.0), "Invalid lr value: -1.0"),
        (dict(momentum=1.0), "Invalid momentum value: 1.0"),
        (dict(momentum=0.0, nesterov=True), "Invalid nesterov value"),
        (dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
        (dict(kappa=-0.5), "Invalid kappa value: -0.5"),
        (dict(kappa=float("nan")), "Invalid kappa value: nan"),
        (dict(scoping=-0.1), "Invalid scoping value: -0.1"),
        (dict(kappa_max=0.0), "Invalid kappa_max value: 0.0"),
    ],
)
def test_invalid_arguments(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        ElasticSGD(tiny_model().parameters(), **kwargs)


def test_mixed_dtypes_rejected():
    a = torch.nn.Parameter(torch.zeros(2))
    b = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    with pytest.raises(ValueError, match="Invalid params value"):
        ElasticSGD([a, b])


def test_group_without_process_group_rejected():
    o = ElasticSGD(tiny_model().parameters(), process_group=object())
    with pytest.raises(ValueError, match="Invalid process_group value"):
        o.step(make_closure(tiny_model(), o, 0, [0]))


def test_old_keywords_warn_and_keep_their_meaning():
    with pytest.warns(DeprecationWarning) as record:
        o = ElasticSGD(tiny_model().parameters(), rho=0.2, rho_max=0.4, group=None)
    assert [str(w.message).split(": ", 1)[1] for w in record] == [
        f"the keyword '{old}' is deprecated and will be removed in the next release; use '{new}'"
        for old, new in (("rho", "kappa"), ("rho_max", "kappa_max"), ("group", "process_group"))
    ]
    assert all(w.filename == __file__ for w in record)  # points at the caller
    assert (o.param_groups[0]["kappa"], o.param_groups[0]["kappa_max"]) == (0.2, 0.4)
    assert "rho" not in o.param_groups[0] and o.process_group is None
    with pytest.warns(DeprecationWarning, match="rho_at is deprecated"):
        assert o.rho_at() == o.kappa_at() == 0.2
    with pytest.raises(ValueError, match="both 'rho' .deprecated. and 'kappa'"):
        ElasticSGD(tiny_model().parameters(), rho=0.2, kappa=0.2)
    with pytest.warns(DeprecationWarning, match="param group key 'rho'"):
        o = ElasticSGD([{"params": list(tiny_model().parameters()), "rho": 0.7}])
    assert o.param_groups[0]["kappa"] == 0.7


def test_signature_shows_todays_keywords():
    import inspect

    names = inspect.signature(ElasticSGD).parameters
    assert {"kappa", "kappa_max", "process_group"} <= set(names)
    assert not {"rho", "rho_max", "group"} & set(names)
    assert names["kappa"].default == 0.03 and names["kappa_max"].default == 10.0


def test_old_module_paths_still_import_with_a_deprecation_warning():
    import importlib
    import sys

    for name in (
        "deeprelax.optim.elastic_sgd",
        "deeprelax.optim.parle",
        "deeprelax.optim._distributed",
    ):
        sys.modules.pop(name, None)
        with pytest.warns(DeprecationWarning, match=name.replace(".", r"\.") + " is deprecated"):
            module = importlib.import_module(name)
        assert module.__all__


def test_elastic_sgd_has_no_inner_coupling_and_says_so():
    opt = ElasticSGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
    with pytest.raises(AttributeError, match="kappa_at"):
        opt.coupling()
    assert opt.kappa_at() == pytest.approx(0.03)


def test_a_param_group_added_mid_training_is_coupled_to_its_replica_mean(battery):
    for r in battery:
        add = r["add_group"]
        assert add["outer_steps"] == 5 and len(add["errors"]) == 3
        assert all(add["agree"])
        assert max(add["errors"]) < 1e-14  # the new layer's reference too: a few float64 ulps
        assert min(add["spreads"]) > 1e-4  # its replicas differ, so the check is not vacuous


def test_ranks_adding_different_groups_are_stopped_at_the_next_step(battery):
    for r in battery:
        kind, msg = r["add_group_mismatch"]
        assert kind == "ValueError"
        assert "rank 1 has param_groups[1].lr=0.3 where rank 0 has 0.1" in msg
