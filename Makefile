# The test entry point of the README and of CI. checkov gets its own venv: it
# pins packaging<24, which would drag pulumi below the version render needs.
PYTHON ?= python3
VENV := .venv
CHECKOV_VENV := .venv-checkov
CHECKOV_VERSION := 3.3.30
# pip's own progress (one line per package), not -q: the first install takes minutes.
PIP_FLAGS := --disable-pip-version-check
# The real-engine suite (tests/real_engine) runs vLLM's CPU build from its own venv:
# vLLM's pins (transformers, protobuf, setuptools) must not move the project's.
VLLM_VENV := .venv-vllm

.PHONY: test test-prereqs render docs-samples snapshots vllm-env

$(VENV)/.installed: pyproject.toml
	@echo "==> installing vllm-fleet and its test tools into $(VENV) (ray, kubernetes-validate, ...: a few minutes the first time)"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) -e '.[test]'
	touch $@

$(CHECKOV_VENV)/bin/checkov:
	@echo "==> installing checkov $(CHECKOV_VERSION) into $(CHECKOV_VENV) (its pins clash with pulumi's)"
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install $(PIP_FLAGS) 'checkov==$(CHECKOV_VERSION)'

# Root, iproute2 and util-linux for the network-namespace tests: checked first, so
# a missing tool fails at once with its fix instead of after the installs.
test-prereqs:
	@scripts/check-test-prereqs.sh

# Idempotent: install_env.py keeps a stamp of what it installed and returns at once when it matches.
vllm-env:
	@echo "==> installing vLLM's CPU build into $(VLLM_VENV) for tests/real_engine (minutes the first time)"
	$(PYTHON) tests/real_engine/install_env.py $(VLLM_VENV)

# Mermaid's own parser under jsdom, for tests/test_plan_picture.py (node >= 20; versions pinned by its lockfile).
tests/mermaid/node_modules:
	@echo "==> installing Mermaid and jsdom into tests/mermaid (npm ci)"
	npm ci --prefix tests/mermaid

test: test-prereqs $(VENV)/.installed $(CHECKOV_VENV)/bin/checkov vllm-env tests/mermaid/node_modules
	@echo "==> running the test suite, then the real-engine suite (tests/real_engine)"
	CHECKOV=$(CURDIR)/$(CHECKOV_VENV)/bin/checkov $(VENV)/bin/python -m pytest
	$(VLLM_VENV)/bin/python -m pytest tests/real_engine

render: $(VENV)/.installed
	$(VENV)/bin/vllm-fleet render --all-stacks

# Rewrites every generated sample in README.md and docs/*.md (and the README's prod plan pictures) from the tool's real output.
docs-samples: $(VENV)/.installed
	$(VENV)/bin/python -m vllm_fleet.docs_samples --write
	$(VENV)/bin/python scripts/capacity_sample.py --write
	$(VENV)/bin/vllm-fleet plan prod --out docs/images/prod-plan > /dev/null

# After an intended change of the rendered objects: commit the new snapshots with it.
snapshots: $(VENV)/.installed
	$(VENV)/bin/vllm-fleet render --all-stacks --out tests/snapshots -q
	$(VENV)/bin/python -m tests.test_workloads tests/snapshots/groups
