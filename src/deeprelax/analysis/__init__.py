"""deeprelax.analysis: landscape diagnostics as pure functions of (model, loss_fn, batches).

Hessian-vector products, extreme eigenvalues, the spectral density (SLQ), the Hutchinson trace,
Monte-Carlo local entropy, sharpness measures and loss interpolation. No optimizer state; the
model is never modified. See docs/landscape.md.
"""

from ._functional import check_state_dict
from .density import SpectralDensity, hessian_spectral_density
from .hessian import (
    HVP_METHODS,
    EigenResult,
    HessianOperator,
    TraceEstimate,
    hessian_vector_product,
    hutchinson_trace,
    top_hessian_eigenvalues,
)

__all__ = [
    "HVP_METHODS",
    "EigenResult",
    "HessianOperator",
    "SpectralDensity",
    "TraceEstimate",
    "check_state_dict",
    "hessian_spectral_density",
    "hessian_vector_product",
    "hutchinson_trace",
    "top_hessian_eigenvalues",
]
