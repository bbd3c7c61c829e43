"""deeprelax: Deep Relaxation (Chaudhari, Oberman, Osher, Soatto, Carlier; arXiv:1704.04932) for PyTorch.

Subpackages:
    deeprelax.optim        the relaxation optimizers (torch.optim.Optimizer subclasses)
    deeprelax.pde          exact 1-D/2-D viscous and non-viscous Hamilton-Jacobi solutions (numpy only)
    deeprelax.analysis     landscape diagnostics (Hessian spectra, local entropy, sharpness)
    deeprelax.experiments  data, the paper's models, the trainer and the reproduction driver
"""

__version__ = "0.1.0"
