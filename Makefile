# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Every target depends on `setup`, which is idempotent and fast when nothing changed.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON_SYS ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The stamp is keyed on pyproject.toml's content: editing dependencies re-runs the install.
STAMP := $(VENV)/.setup-$(shell sha256sum pyproject.toml | cut -c1-16)
OUT ?= out
JOBS ?= $(shell nproc)


.PHONY: setup system data test lint typecheck pytest demo bench bench-fashion release clean help

help:
	@echo "make demo   - set up, then run the main job (see README)"
	@echo "make test   - set up, then ruff + mypy + pytest"
	@echo "make bench  - speed figures, printed side by side (make bench-fashion: time to 92%)"
	@echo "make release - regenerate release/ from source/ with nbgrader"

setup: $(STAMP) system

$(STAMP): pyproject.toml
	@echo "== setup: virtualenv in $(VENV) (system $(PYTHON_SYS))"
	test -x $(PY) || $(PYTHON_SYS) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name python3 > /dev/null
	@$(MAKE) --no-print-directory data
	rm -f $(VENV)/.setup-*
	touch $@
	@echo "== setup done"

system:
	@missing=""; command -v bwrap > /dev/null || missing="$$missing bubblewrap"; \
	if [ -z "$$missing" ]; then \
	  :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get > /dev/null; then \
	  echo "== system: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing > /dev/null; \
	else \
	  echo "== system: missing$$missing (the grader's sandbox needs bubblewrap: apt-get install bubblewrap)" >&2; \
	  exit 1; \
	fi

# Fashion-MNIST from Debian's package when we are root on Debian/Ubuntu; elsewhere see README.
data:
	@if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then \
	  echo "== data: Fashion-MNIST found in /usr/share/datasets/fashion-mnist"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get > /dev/null; then \
	  echo "== data: installing Debian package dataset-fashion-mnist"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist > /dev/null; \
	else \
	  echo "== data: Fashion-MNIST not installed (set FASHION_MNIST_DIR, or see README); real-data tests will skip"; \
	fi

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@# the grading runtime (grader, references, the notebooks' helper modules) must run on Python 3.10
	$(VENV)/bin/vermin --no-tips --violations --eval-annotations -t=3.10- autograder course_lib source/*/*.py

typecheck: setup
	$(VENV)/bin/mypy

pytest: setup
	$(VENV)/bin/pytest -n 2 -q

test: lint typecheck pytest

demo: setup
	$(PY) -m course_lib demo
	$(PY) -m autograder.demo

# Every benchmark, printed side by side; the long Fashion-MNIST time-to-92% run has its own target.
bench: setup
	BENCH_FASHION_QUICK=1 $(PY) -m benchmarks

bench-fashion: setup
	$(PY) -m benchmarks fashion

release: setup
	$(PY) -m autograder.release

clean:
	rm -rf $(OUT) demo_class build *.egg-info
