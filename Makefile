# energybench: the two commands are `make demo` and `make test`; each installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
PY := $(VENV)/bin/python
EB := $(VENV)/bin/energybench
RESULTS ?= results/demo
STAMP := $(VENV)/.installed

.PHONY: install demo test figures bench clean chromium cluster-up cluster-down

install: $(STAMP)

# Re-installs only when pyproject.toml or the torch spec changes.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e '.[test]'
	@echo "$(TORCH_SPEC)" > $(STAMP)

demo: install
	$(EB) submit configs/demo.yaml --results $(RESULTS)
	$(EB) status $(RESULTS)
	$(EB) collect $(RESULTS)
	$(EB) figures $(RESULTS)
	$(EB) report $(RESULTS)
	@echo "dataset: $(RESULTS)/dataset  tables: $(RESULTS)/tables  figures: $(RESULTS)/figures  report: $(RESULTS)/report.md, $(RESULTS)/report.html"

# As root, the suite installs Chromium and starts the single-node dev SLURM cluster first
# (the browser and SLURM tests must run, not skip).
test: install
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory chromium cluster-up; fi
	$(PY) -m pytest -q -ra tests

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

bench: install
	$(PY) -m pip install -q -e '.[test,bench]'
	$(PY) -m energybench.bench

clean:
	rm -rf results/demo .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
