"""deeprelax.analysis (being built)."""
