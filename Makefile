# The test entry point of the README and of CI. checkov gets its own venv: it
# pins packaging<24, which would drag pulumi below the version render needs.
PYTHON ?= python3
VENV := .venv
CHECKOV_VENV := .venv-checkov
CHECKOV_VERSION := 3.3.30

.PHONY: test render snapshots

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

$(CHECKOV_VENV)/bin/checkov:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q 'checkov==$(CHECKOV_VERSION)'

test: $(VENV)/.installed $(CHECKOV_VENV)/bin/checkov
	CHECKOV=$(CURDIR)/$(CHECKOV_VENV)/bin/checkov $(VENV)/bin/python -m pytest

render: $(VENV)/.installed
	$(VENV)/bin/vllm-fleet render --all-stacks

# After an intended change of the rendered objects: commit the new snapshots with it.
snapshots: $(VENV)/.installed
	$(VENV)/bin/vllm-fleet render --all-stacks --out tests/snapshots -q
	$(VENV)/bin/python -m tests.test_workloads tests/snapshots/groups
