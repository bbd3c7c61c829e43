"""deeprelax.optim (being built)."""
