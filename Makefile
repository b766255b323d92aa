# `make demo` and `make test` work on a fresh machine: they create .venv and install everything first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint notebooks clean

setup: $(STAMP)

# torch goes in first, pinned, so the CPU build is taken and nothing later pulls a CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# --fast: a few minutes on 2 CPU cores. `make demo DEMO_FLAGS=` runs the full default recipe (much longer).
DEMO_FLAGS ?= --fast
demo: $(STAMP)
	$(BIN)/domain-distill run --domain finance_risk --out runs/demo-finance $(DEMO_FLAGS)

lint: $(STAMP)
	$(BIN)/ruff check toolkit domains tests bench

# pytest exits 5 when it collected nothing (a wrong path, every test deselected): that fails, with a message, since
# a test run that ran no test proves nothing. The notebooks run whole pipelines, so a cell may take minutes;
# DOMAIN_DISTILL_SMALL makes them use small settings. `make test PYTEST_ARGS=tests/test_config.py` runs a part.
PYTEST_ARGS ?= tests --nbmake --nbmake-timeout=1500 notebooks
test: $(STAMP) lint
	DOMAIN_DISTILL_SMALL=1 $(BIN)/python -m pytest -q --durations=25 $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests ($(PYTEST_ARGS)); failing" >&2; fi; exit $$rc

# JupyterLab refuses to start as root (containers often run as root) unless told so; JUPYTER_FLAGS adds more.
AS_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
notebooks: $(STAMP)
	$(BIN)/jupyter lab notebooks/ $(AS_ROOT) $(JUPYTER_FLAGS)

clean:
	rm -rf runs/demo-finance .pytest_cache
