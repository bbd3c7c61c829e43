"""deeprelax.experiments (being built)."""
