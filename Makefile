# Two entry points: `make demo` and `make test`. Both create .venv when missing.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock | sha1sum | cut -c1-12)

.PHONY: demo test setup clean lint typecheck check

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	# torch first, pinned: a CPU build lies on disk; an unpinned torch pulls a CUDA build.
	$(BIN)/pip install torch==2.13.0
	# exact versions from the lock (regenerate with scripts/lock.sh), then seqalpha itself
	$(BIN)/pip install -r requirements.lock
	$(BIN)/pip install --no-deps -e '.[test]'
	# compile the numba kernels once into their cache (a first run would otherwise pay it)
	$(BIN)/python -m seqalpha.warmup
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/seqalpha demo

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/python -m ruff check src tests benchmarks scripts
	$(BIN)/python -m ruff format --check src tests benchmarks scripts

typecheck: setup
	$(BIN)/python -m mypy

# The conventions CI enforces before the tests: lint, formatting, types.
check: lint typecheck

clean:
	rm -rf $(VENV) runs .pytest_cache

# The documentation site (mkdocs.yml, docs/) into site/; --strict: any warning (a broken link,
# a broken cross-reference) fails the build. Config and model reference pages are generated.
.PHONY: docs
docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict
