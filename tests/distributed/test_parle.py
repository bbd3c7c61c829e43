"""Parle: reductions to EntropySGD / ElasticSGD, reference = replica mean, resume, faults."""

from __future__ import annotations

import pytest
import torch
from replica_scenarios import PARLE_HYPER, flat, gen, make_closure, tiny_model

from deeprelax.optim import EntropySGD, NonFiniteLossError
from deeprelax.optim.replica import Parle, ReplicaNonFiniteError

N = 3


@pytest.fixture(scope="module")
def battery(replica_results) -> list[dict]:
    return [r["parle"] for r in replica_results]


def test_rho0_equals_entropysgd_per_replica(battery):
    for r in battery:  # bit for bit in float64, with and without Langevin noise
        assert r["rho0_noise_free"] == 0.0
        assert r["rho0_noise"] == 0.0


def test_L0_equals_elastic_sgd(battery):
    assert [r["L0_vs_elastic"] for r in battery] == [0.0] * N


def test_reference_is_mean_after_every_outer_step(battery):
    for r in battery:
        ref = r["reference"]
        assert max(ref["errors"]) < 1e-14  # a few float64 ulps: gloo's summation order
        assert min(ref["spreads"]) > 1e-4  # the replicas differ: not a vacuous check
        assert ref["rho_last"] == pytest.approx(0.5 * 1.1**5)
        assert 0.1 * 1.1**5 > 0.15 and ref["gamma_last"] == 0.15  # capped


def test_one_all_reduce_per_outer_step(battery):
    for r in battery:
        ref = r["reference"]
        L = PARLE_HYPER["L"]
        assert ref["grad_evals"] == 4 * L
        assert ref["calls"] == 4
        per_eval = ref["bytes"] / ref["grad_evals"]
        assert per_eval == (ref["numel"] + N) * 8 / L


def test_state_dict_resume_is_exact(battery):
    for r in battery:
        assert r["resume"] == dict(max_diff=0.0, outer_steps=5, grad_evals=15)


def test_nan_in_inner_chain_of_one_rank_stops_all(battery):
    for r in battery:
        kind, msg = r["nan"]
        assert kind == "ReplicaNonFiniteError"
        assert "rank 2 " in msg and "outer step 1" in msg


def test_mismatched_L_detected_at_start(battery):
    for r in battery:
        kind, msg = r["mismatch"]
        assert kind == "ValueError"
        assert "rank 2 has param_groups[0].L=4 where rank 0 has 3" in msg
        assert "rank 1" not in msg


def test_single_replica_with_coupling_is_entropysgd():
    # n = 1: r = x after every step, so the elastic term is exactly zero
    m1, m2 = tiny_model(), tiny_model()
    o1 = Parle(m1.parameters(), kappa=2.0, noise=1e-2, generator=gen(3), **PARLE_HYPER)
    o2 = EntropySGD(m2.parameters(), noise=1e-2, generator=gen(3), **PARLE_HYPER)
    c1, c2 = [0], [0]
    for _ in range(3):
        l1 = o1.step(make_closure(m1, o1, 0, c1))
        l2 = o2.step(make_closure(m2, o2, 0, c2))
        assert torch.equal(l1, l2)
    assert torch.equal(flat(m1), flat(m2))
    assert o1.grad_evals == o2.grad_evals == 9


def test_closure_free_mode_matches_closure_mode():
    m1, m2 = tiny_model(), tiny_model()
    o1 = Parle(m1.parameters(), kappa=1.0, noise=1e-2, generator=gen(5), **PARLE_HYPER)
    o2 = Parle(
        m2.parameters(), kappa=1.0, noise=1e-2, generator=gen(5), closure_free=True, **PARLE_HYPER
    )
    c1, c2 = [0], [0]
    for _ in range(2):
        o1.step(make_closure(m1, o1, 0, c1))
    for _ in range(2 * PARLE_HYPER["L"]):
        make_closure(m2, o2, 0, c2)()
        o2.step()
    assert o2.inner_index == 0
    assert torch.equal(flat(m1), flat(m2))


def test_nan_single_process_raises_replica_error():
    m = tiny_model()
    o = Parle(m.parameters(), **PARLE_HYPER)
    c = [0]
    o.step(make_closure(m, o, 0, c))
    before = flat(m).clone()
    with pytest.raises(ReplicaNonFiniteError, match="rank 0 ") as info:
        o.step(make_closure(m, o, 0, c, nan_at=4))
    assert isinstance(info.value, NonFiniteLossError)
    assert torch.equal(flat(m), before)  # back at the last finite anchor
    assert o.inner_index == 0 and o.outer_steps == 1


def test_kappa_keyword_is_the_elastic_coupling_not_the_control_weight():
    m = tiny_model()
    o = Parle(m.parameters(), kappa=0.7)
    assert o.param_groups[0]["kappa"] == 0.7
    o.step(make_closure(m, o, 0, [0]))
    assert o.param_groups[0]["kappa"] == 0.7
    assert "rho" not in o.param_groups[0]  # no controlled variant in Parle
    assert "anchor_grad" not in o.state[next(m.parameters())]


def test_old_rho_keyword_still_means_the_elastic_coupling():
    m = tiny_model()
    with pytest.warns(DeprecationWarning) as record:
        o = Parle(m.parameters(), rho=0.7, rho_max=2.0)
    assert [str(w.message)[:32] for w in record] == [
        "Parle: the keyword 'rho' is depr",
        "Parle: the keyword 'rho_max' is ",
    ]
    assert (o.param_groups[0]["kappa"], o.param_groups[0]["kappa_max"]) == (0.7, 2.0)
    assert "rho" not in o.param_groups[0]
    with pytest.raises(ValueError, match="both 'rho_max' .deprecated. and 'kappa_max'"):
        Parle(m.parameters(), rho_max=2.0, kappa_max=2.0)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        (dict(kappa=-1.0), "Invalid kappa value: -1.0"),
        (dict(kappa=float("inf")), "Invalid kappa value: inf"),
        (dict(kappa_max=0.0), "Invalid kappa_max value: 0.0"),
        (dict(gamma=-0.1), "Invalid gamma value: -0.1"),
        (dict(L=-1), "Invalid L value: -1"),
        (dict(scoping=-0.5), "Invalid scoping value: -0.5"),
    ],
)
def test_invalid_arguments(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        Parle(tiny_model().parameters(), **kwargs)


def test_a_param_group_added_mid_chain_is_coupled_to_its_replica_mean(battery):
    for r in battery:
        add = r["add_group"]
        # added during outer step 3 (closure-free): it joins at step 4; three more steps end
        assert add["outer_steps"] == 5 and len(add["errors"]) == 3
        assert all(add["agree"])
        assert max(add["errors"]) < 1e-14
        assert add["spreads"][0] == 0.0  # step 3: the new layer waited, identical on every rank
        assert min(add["spreads"][1:]) > 1e-4  # then it trained: the replicas differ
