# energybench: the two commands are `make demo` and `make test`; each installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
PY := $(VENV)/bin/python
EB := $(VENV)/bin/energybench
RESULTS ?= results/demo
STAMP := $(VENV)/.installed

.PHONY: install demo test figures bench clean chromium cluster-up cluster-down validate-gpu wheels

install: $(STAMP)

# Re-installs only when a pyproject.toml or the torch spec changes. The example workload package
# (tests/test_examples.py) builds with the venv's setuptools (torch requires it): no registry needed.
$(STAMP): pyproject.toml examples/workload-package/pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e '.[test]'
	$(PY) -m pip install -q --no-build-isolation -e examples/workload-package
	@echo "$(TORCH_SPEC)" > $(STAMP)

demo: install
	$(EB) submit configs/demo.yaml --results $(RESULTS)
	$(EB) status $(RESULTS)
	$(EB) collect $(RESULTS)
	$(EB) figures $(RESULTS)
	$(EB) report $(RESULTS)
	@echo "dataset: $(RESULTS)/dataset  tables: $(RESULTS)/tables  figures: $(RESULTS)/figures  report: $(RESULTS)/report.md, $(RESULTS)/report.html"

# As root, the suite installs Chromium and starts the multi-node dev SLURM cluster (four slurmd nodes in network namespaces) first
# (the browser and SLURM tests must run, not skip).
test: install
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory chromium cluster-up; fi
	@$(MAKE) --no-print-directory wheels || echo "make wheels failed (no package registry?): the wheel tests skip" >&2
	$(PY) -m pytest -q -ra --durations=30 tests

# Debian's Chromium for the report's browser test (tests/test_report_browser.py); nothing when installed.
chromium:
	@test -x /usr/bin/chromium || { export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -q && apt-get install -y -q chromium; }

cluster-up:
	bash slurm_templates/devcluster/up.sh

cluster-down:
	bash slurm_templates/devcluster/down.sh

figures: install
	$(EB) figures $(RESULTS)

# GPU validation (docs/validation.md): the system Python when it has torch (GPU machines: no venv,
# no registry; what it lacks comes from $(WHEELS_DIR)/), else the venv. Options in ARGS:
# `make validate-gpu ARGS=--fake` runs it against a simulated GPU; no GPU and no --fake: one line, exit 0.
ARGS ?=
WHEELS_DIR ?= .wheels
WHEELS_PYTHON ?= 3.12
WHEELS_PLATFORM ?= manylinux2014_x86_64

validate-gpu:
	@if $(PYTHON) -c 'import torch' 2>/dev/null; then py='$(PYTHON)'; \
	else $(MAKE) --no-print-directory install >&2 && py='$(PY)'; fi; \
	$$py -m energybench.validate --wheels $(WHEELS_DIR) $(ARGS)

# The wheels a GPU machine lacks (energybench/validate/environment.py: REQUIREMENTS marked ship),
# for CPython $(WHEELS_PYTHON) on manylinux x86_64, from the package registry; checked (< 50 MiB, tags).
wheels: $(WHEELS_DIR)/.complete

$(WHEELS_DIR)/.complete: energybench/validate/environment.py
	@rm -rf $(WHEELS_DIR).tmp && mkdir -p $(WHEELS_DIR).tmp
	$(PYTHON) -m pip download -q --only-binary=:all: --platform $(WHEELS_PLATFORM) \
		--python-version $(WHEELS_PYTHON) --implementation cp -d $(WHEELS_DIR).tmp \
		$$($(PYTHON) -m energybench.validate.environment --wheel-specs)
	$(PYTHON) -m energybench.validate.environment --check $(WHEELS_DIR).tmp --python-version $(WHEELS_PYTHON)
	@rm -rf $(WHEELS_DIR) && mv $(WHEELS_DIR).tmp $(WHEELS_DIR) && touch $@

bench: install
	$(PY) -m pip install -q -e '.[test,bench]'
	$(PY) -m energybench.bench

clean:
	rm -rf results/demo .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
