"""deeprelax.analysis: landscape diagnostics as pure functions of (model, loss_fn, batches).

Hessian-vector products, extreme eigenvalues, the spectral density (SLQ), the Hutchinson trace,
Monte-Carlo local entropy, sharpness measures, loss interpolation, and the report that runs them
all (:func:`analysis_report`). No optimizer state; the
model is never modified. See docs/landscape.md.
"""

from ._functional import check_state_dict
from .density import SpectralDensity, hessian_spectral_density
from .entropy import LocalEntropyEstimate, local_entropy
from .hessian import (
    HVP_METHODS,
    EigenResult,
    HessianOperator,
    TraceEstimate,
    hessian_vector_product,
    hutchinson_trace,
    top_hessian_eigenvalues,
)
from .report import AnalysisSettings, analysis_report
from .sharpness import (
    InterpolationResult,
    SharpnessEstimate,
    epsilon_sharpness,
    interpolate,
    sam_sharpness,
)

__all__ = [
    "AnalysisSettings",
    "HVP_METHODS",
    "EigenResult",
    "HessianOperator",
    "InterpolationResult",
    "LocalEntropyEstimate",
    "SharpnessEstimate",
    "SpectralDensity",
    "TraceEstimate",
    "analysis_report",
    "check_state_dict",
    "epsilon_sharpness",
    "hessian_spectral_density",
    "hessian_vector_product",
    "hutchinson_trace",
    "interpolate",
    "local_entropy",
    "sam_sharpness",
    "top_hessian_eigenvalues",
]
