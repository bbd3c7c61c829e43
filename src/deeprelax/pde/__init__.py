"""deeprelax.pde: exact viscous / non-viscous Hamilton-Jacobi solutions on 1-D and 2-D grids.

numpy only (importing it does not import torch). Conventions (PAPER.md §1-2):

* non-viscous HJ  u_t = -1/2 |grad u|^2,              u = Hopf-Lax = Moreau envelope of f;
* viscous HJ      u_t = -1/2 |grad u|^2 + Laplace u / (2 beta),
                  u = -beta^-1 log(G_{t/beta} * exp(-beta f)) (Cole-Hopf; local entropy);
* heat            v_t = 1/2 Laplace v,  v = G_t * f;
* Gibbs laws exp(-beta .); t is the PDE time (gamma; the optimizers' ``gamma`` keyword is 1/t).

Arrays hold grid values; ``dx`` is the spacing (one float or one per axis). The grid's box is the
domain: minima and integrals run over the grid points only (see docs/theory.md, "Boundary").
"""

from deeprelax.pde.cole_hopf import (
    cole_hopf,
    cole_hopf_direct,
    cole_hopf_grad,
    cole_hopf_mean,
    heat,
)
from deeprelax.pde.hopf_lax import hopf_lax, hopf_lax_brute, hopf_lax_grad, prox_point
from deeprelax.pde.solvers import fokker_planck, simulate_particles, upwind_hj

__all__ = [
    "cole_hopf",
    "cole_hopf_direct",
    "cole_hopf_grad",
    "cole_hopf_mean",
    "fokker_planck",
    "heat",
    "hopf_lax",
    "hopf_lax_brute",
    "hopf_lax_grad",
    "prox_point",
    "simulate_particles",
    "upwind_hj",
]
