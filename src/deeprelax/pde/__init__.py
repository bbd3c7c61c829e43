"""deeprelax.pde (being built)."""
