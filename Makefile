# The test entry point of the README and of CI. checkov gets its own venv: it
# pins packaging<24, which would drag pulumi below the version render needs.
PYTHON ?= python3
VENV := .venv
CHECKOV_VENV := .venv-checkov
CHECKOV_VERSION := 3.3.30
# pip's own progress (one line per package), not -q: the first install takes minutes.
PIP_FLAGS := --disable-pip-version-check

.PHONY: test test-prereqs render docs-samples snapshots

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

test: test-prereqs $(VENV)/.installed $(CHECKOV_VENV)/bin/checkov
	@echo "==> running the test suite (about 5 minutes on 2 cores)"
	CHECKOV=$(CURDIR)/$(CHECKOV_VENV)/bin/checkov $(VENV)/bin/python -m pytest

render: $(VENV)/.installed
	$(VENV)/bin/vllm-fleet render --all-stacks

# Rewrites every generated sample in README.md and docs/*.md from the tool's real output.
docs-samples: $(VENV)/.installed
	$(VENV)/bin/python -m components.docs_samples --write

# After an intended change of the rendered objects: commit the new snapshots with it.
snapshots: $(VENV)/.installed
	$(VENV)/bin/vllm-fleet render --all-stacks --out tests/snapshots -q
	$(VENV)/bin/python -m tests.test_workloads tests/snapshots/groups
