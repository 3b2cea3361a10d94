# The test entry point of the README and of CI. checkov gets its own venv: it
# pins packaging<24, which would drag pulumi below the version render needs.
PYTHON ?= python3
VENV := .venv
CHECKOV_VENV := .venv-checkov
CHECKOV_VERSION := 3.3.30
# The real-engine suite (tests/real_engine) runs vLLM's CPU build from its own venv:
# vLLM's pins (transformers, protobuf, setuptools) must not move the project's.
VLLM_VENV := .venv-vllm

.PHONY: test render vllm-env

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

$(CHECKOV_VENV)/bin/checkov:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q 'checkov==$(CHECKOV_VERSION)'

# Idempotent: install_env.py keeps a stamp of what it installed and returns at once when it matches.
vllm-env:
	$(PYTHON) tests/real_engine/install_env.py $(VLLM_VENV)

test: $(VENV)/.installed $(CHECKOV_VENV)/bin/checkov vllm-env
	CHECKOV=$(CURDIR)/$(CHECKOV_VENV)/bin/checkov $(VENV)/bin/python -m pytest
	$(VLLM_VENV)/bin/python -m pytest tests/real_engine

render: $(VENV)/.installed
	$(VENV)/bin/vllm-fleet render --all-stacks
