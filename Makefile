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

# A running course lives outside the checkout (see README, "Running the course"): `make course`.
COURSE ?= $(HOME)/cnn-course
EXCHANGE ?= /srv/nbgrader/exchange

.PHONY: setup system data test lint typecheck pytest demo bench bench-fashion release course clean help

help:
	@echo "make demo   - set up, then run the main job (see README)"
	@echo "make test   - set up, then ruff + mypy + pytest"
	@echo "make bench  - speed figures, printed side by side (make bench-fashion: time to 92%)"
	@echo "make release - regenerate release/ from source/ with nbgrader"
	@echo "make course  - create or update the nbgrader course in COURSE=$(COURSE) (exchange EXCHANGE=$(EXCHANGE))"

setup: $(STAMP) system

$(STAMP): pyproject.toml
	@echo "== setup: virtualenv in $(VENV) (system $(PYTHON_SYS))"
	test -x $(PY) || $(PYTHON_SYS) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name python3 > /dev/null
	rm -f $(VENV)/.setup-*
	touch $@
	@echo "== setup done"

# System packages when we are root on Debian/Ubuntu: bubblewrap (the grader's sandbox: required),
# Fashion-MNIST (data) and a headless Chromium with its driver for the browser tests (JupyterLab, the
# formgrader). Elsewhere see README.
SYSTEM_PACKAGES := bubblewrap dataset-fashion-mnist chromium chromium-driver
system:
	@missing="$$(for p in $(SYSTEM_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done)"; \
	if [ -z "$$missing" ]; then \
	  :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get > /dev/null; then \
	  echo "== system: installing" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing > /dev/null; \
	else \
	  echo "== system: not installed:" $$missing "(install them as root, or see README); real-data and browser tests will skip"; \
	fi
	@command -v bwrap > /dev/null || { echo "== system: bubblewrap (bwrap) is missing: the grader's sandbox needs it (apt-get install bubblewrap)" >&2; exit 1; }

data: system

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@# the grading runtime (grader, references, the notebooks' helper modules) must run on Python 3.10
	$(VENV)/bin/vermin --no-tips --violations --eval-annotations -t=3.10- autograder course_lib source/*/*.py

typecheck: setup
	$(VENV)/bin/mypy

# loadgroup: the tests that share a demo class or a JupyterLab server (xdist_group) run on one worker
pytest: setup
	$(VENV)/bin/pytest -n 2 --dist loadgroup -q

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

course: setup
	$(PY) -m autograder course $(COURSE) --exchange $(EXCHANGE)

clean:
	rm -rf $(OUT) demo_class build *.egg-info
