"""Hessian-vector products, eigsh eigenvalues, Hutchinson trace and SLQ density vs the exact Hessian."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from deeprelax.analysis import (
    HVP_METHODS,
    HessianOperator,
    hessian_spectral_density,
    hutchinson_trace,
    top_hessian_eigenvalues,
)
from deeprelax.analysis.density import gaussian_density

from .conftest import exact_hessian, small_net

CE = F.cross_entropy


@pytest.mark.parametrize("method", HVP_METHODS)
def test_hvp_matches_exact_hessian_float64(net, method):
    model, batches, H, _, _ = net
    op = HessianOperator(model, CE, batches, dtype=torch.float64, method=method)
    v = torch.randn(op.num_params, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    # Same arithmetic up to summation order: agreement to ~1e3 machine epsilons of |Hv|.
    assert torch.allclose(op(v), H @ v, rtol=0, atol=1e-12 * float((H @ v).abs().max()) * 1e3)
    assert op.num_hvps == 1


def test_hvp_float32_close_and_model_untouched(net):
    model, batches, H, _, _ = net
    before = {k: v.clone() for k, v in model.state_dict().items()}
    op = HessianOperator(model, CE, batches)  # float32: the model's dtype
    v = torch.randn(op.num_params, generator=torch.Generator().manual_seed(2))
    hv = op(v).double()
    exact = H @ v.double()
    # float32 round-off of a sum over ~1.7k terms: relative error well below 1e-4.
    assert float((hv - exact).norm() / exact.norm()) < 1e-4
    assert not model.training
    for k, t in model.state_dict().items():
        assert torch.equal(t, before[k])


@pytest.mark.parametrize("method", HVP_METHODS)
def test_bn_train_mode_differs_and_leaves_buffers(method):
    model, batches = small_net(seed=3, width=8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    H_eval = exact_hessian(model, batches, "eval")
    H_train = exact_hessian(model, batches, "train")
    v = torch.randn(
        H_eval.shape[0], dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )
    op = HessianOperator(model, CE, batches, dtype=torch.float64, bn_mode="train", method=method)
    assert torch.allclose(op(v), H_train @ v, atol=1e-10)
    assert float((H_train - H_eval).abs().max()) > 1e-3  # batch statistics do change the Hessian
    for k, t in model.state_dict().items():
        assert torch.equal(t, before[k]), k


@pytest.mark.parametrize("solver", ["arpack", "lanczos"])
@pytest.mark.parametrize("which", ["LA", "SA"])
def test_extreme_eigenvalues_float64(net, which, solver):
    model, batches, _, evals, evecs = net
    k = 4
    res = top_hessian_eigenvalues(
        model, CE, batches, k=k, which=which, tol=1e-10, dtype=torch.float64, solver=solver
    )
    exact = evals[::-1][:k] if which == "LA" else evals[:k]
    exact_vecs = evecs[:, ::-1][:, :k] if which == "LA" else evecs[:, :k]
    np.testing.assert_allclose(res.eigenvalues, exact, rtol=1e-7)
    # Eigenvector error ~ residual / gap; gaps here are >= 1e-3, residuals <= 1e-10.
    overlaps = np.abs(np.sum(res.eigenvectors * exact_vecs, axis=0))
    assert np.all(overlaps > 1 - 1e-6), overlaps
    assert 0 < res.num_hvps < 400


def test_top_eigenvalues_float32_default_tol(net):
    model, batches, _, evals, _ = net
    res = top_hessian_eigenvalues(model, CE, batches, k=3)
    # ARPACK tol 1e-3 bounds the residual by 1e-3 |theta|, and |theta - lambda| <= residual.
    np.testing.assert_allclose(res.eigenvalues, evals[::-1][:3], rtol=1.5e-3)


def test_hutchinson_trace_within_its_exact_standard_error(net):
    model, batches, H, _, _ = net
    n = 200
    est = hutchinson_trace(model, CE, batches, num_probes=n, dtype=torch.float64, seed=5)
    off = H - torch.diag(torch.diag(H))
    exact_se = float(torch.sqrt(2 * (off**2).sum() / n))  # Var(v'Hv) = 2 sum_{i!=j} H_ij^2
    assert abs(est.trace - float(torch.trace(H))) < 4 * exact_se
    assert 0.6 < est.stderr / exact_se < 1.5
    assert est.num_hvps == n
    assert exact_se < 0.2 * abs(float(torch.trace(H)))  # the check is informative


def test_slq_full_lanczos_is_exact_per_probe():
    """With m = d steps the Gauss rule reproduces v' g(H) v / |v|^2 exactly for one probe."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 3))
    g = torch.Generator().manual_seed(0)
    batches = [(torch.randn(30, 5, generator=g), torch.randint(0, 3, (30,), generator=g))]
    H = exact_hessian(model, batches)
    d = H.shape[0]
    evals, evecs = torch.linalg.eigh(H)
    sd = hessian_spectral_density(
        model, CE, batches, num_probes=1, lanczos_steps=d, sigma=0.01, dtype=torch.float64, seed=7
    )
    v = torch.randn(d, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    w_exact = ((evecs.T @ v) ** 2 / v.dot(v)).numpy()
    expected = gaussian_density(sd.grid, evals.numpy(), w_exact, 0.01)
    np.testing.assert_allclose(sd.density, expected, atol=1e-6 * expected.max())
    assert abs(sd.trace() - d * float(v @ H @ v / v.dot(v))) < 1e-8


def test_slq_density_and_trace_match_exact_spectrum(net):
    model, batches, H, evals, _ = net
    d = len(evals)
    sigma = 0.02 * (evals[-1] - evals[0])
    sd = hessian_spectral_density(
        model, CE, batches, num_probes=8, lanczos_steps=60, sigma=sigma, dtype=torch.float64, seed=1
    )
    exact = gaussian_density(sd.grid, evals, np.full(d, 1.0 / d), sigma)
    dx = sd.grid[1] - sd.grid[0]
    assert abs(sd.density.sum() * dx - 1) < 1e-3
    # Monte-Carlo error of 8 sphere probes: about sqrt(2 / (d * 8)) ~ 1.2 % relative per point,
    # quadrature error of 60 steps for a kernel of width 2 % of the span is far smaller. L1
    # distance between densities: 5 % allows ~4 standard errors.
    l1 = np.abs(sd.density - exact).sum() * dx
    assert l1 < 0.05, l1
    # trace: each probe's estimate has relative sd ~ sqrt(2/d) * spread / mean: within 4 sd
    probe_sd = np.sqrt(2.0 / (d + 2) * np.var(evals)) * d / np.sqrt(8)
    assert abs(sd.trace() - float(torch.trace(H))) < 4 * probe_sd
    assert sd.num_hvps == 8 * 60
    for t in (0.2, 0.3):  # in the tails, where the Gauss rule resolves a step function
        assert abs(sd.fraction_above(t) - np.mean(evals > t)) < 0.02, t


def test_bad_inputs(net):
    model, batches, _, _, _ = net
    d = sum(p.numel() for p in model.parameters())
    with pytest.raises(ValueError, match=r"Invalid k value: 1668"):
        top_hessian_eigenvalues(model, CE, batches, k=d)
    with pytest.raises(ValueError, match=r"Invalid k value: 0"):
        top_hessian_eigenvalues(model, CE, batches, k=0)
    with pytest.raises(ValueError, match=r"Invalid solver value"):
        top_hessian_eigenvalues(model, CE, batches, k=2, solver="lobpcg")
    with pytest.raises(ValueError, match=r"Invalid max_steps value: 2"):
        top_hessian_eigenvalues(model, CE, batches, k=2, solver="lanczos", max_steps=2)
    with pytest.raises(ValueError, match=r"Invalid which value"):
        top_hessian_eigenvalues(model, CE, batches, k=2, which="LM")
    with pytest.raises(ValueError, match=r"Invalid batches value: empty"):
        top_hessian_eigenvalues(model, CE, [], k=2)
    with pytest.raises(ValueError, match=r"Invalid batches value: batch 0 has 0 inputs"):
        HessianOperator(model, CE, [(torch.zeros(0, 12), torch.zeros(0, dtype=torch.long))])
    with pytest.raises(ValueError, match=r"single \(inputs, targets\) pair"):
        HessianOperator(model, CE, batches[0])
    with pytest.raises(ValueError, match=r"Invalid bn_mode value"):
        HessianOperator(model, CE, batches, bn_mode="frozen")
    with pytest.raises(ValueError, match=r"Invalid dtype value"):
        HessianOperator(model, CE, batches, dtype=torch.float16)
    with pytest.raises(ValueError, match=r"Invalid method value"):
        HessianOperator(model, CE, batches, method="magic")
    with pytest.raises(ValueError, match=r"Invalid vector value: shape \(3,\)"):
        HessianOperator(model, CE, batches)(torch.zeros(3))
    with pytest.raises(ValueError, match=r"Invalid num_probes value"):
        hutchinson_trace(model, CE, batches, num_probes=1)


def test_non_finite_weights_buffers_inputs_or_products_are_named():
    from deeprelax.analysis import local_entropy, sam_sharpness

    model, batches = small_net()
    with torch.no_grad():
        model[0].weight[0, :3] = float("nan")
    for call in (
        lambda: top_hessian_eigenvalues(model, CE, batches, k=2),
        lambda: local_entropy(model, CE, batches, gamma=1.0, steps=2, burn_in=1),
        lambda: sam_sharpness(model, CE, batches),
    ):
        with pytest.raises(ValueError, match=r"NaN or infinity in 0\.weight \(3 of 384 entries\)"):
            call()
    model, batches = small_net()
    model[2].running_var[1] = float("inf")
    with pytest.raises(ValueError, match=r"NaN or infinity in 2\.running_var \(1 of 32"):
        HessianOperator(model, CE, batches)
    model, batches = small_net()
    bad = [(batches[0][0].clone(), batches[0][1]), batches[1]]
    bad[0][0][5, 0] = float("-inf")
    with pytest.raises(ValueError, match=r"NaN or infinity in batch 0 inputs \(1 of 768"):
        HessianOperator(model, CE, bad)

    def overflowing(outputs, targets):  # finite weights and data, a loss whose curvature is inf
        return CE(outputs * 1e30, targets) * 1e30

    with pytest.raises(FloatingPointError, match="non-finite Hessian-vector product"):
        HessianOperator(model, overflowing, batches)(torch.ones(1668))
