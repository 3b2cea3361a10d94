"""The editor schema and the README's config reference are generated from the models and kept current."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest
import yaml

from vllm_fleet import config_schema
from vllm_fleet.config_schema import README, SCHEMA_FILE, builtin_registry, config_reference, schema_text
from .conftest import PROJECT_DIR, STACKS


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads(SCHEMA_FILE.read_text())


def _stack(name: str) -> dict:
    return yaml.safe_load((PROJECT_DIR / "stacks" / f"Pulumi.{name}.yaml").read_text())


def test_the_shipped_schema_is_generated_from_the_current_models():
    assert SCHEMA_FILE.read_text() == schema_text(builtin_registry()), "run: python -m vllm_fleet.config_schema"


def test_the_readme_config_reference_matches_the_models():
    text = README.read_text()
    assert config_schema.readme_with_reference(text) == text, "run: python -m vllm_fleet.config_schema"
    for key in ("models[].replicas", "models[].workload", "models[].addons", "defaults.workload", "nodePool.gpusPerNode"):
        assert f"| `{key}` |" in config_reference()


@pytest.mark.parametrize("stack", STACKS)
def test_every_shipped_stack_file_is_valid_against_the_schema(schema, stack):
    jsonschema.Draft7Validator(schema).validate(_stack(stack))


@pytest.mark.parametrize(
    "edit,fragment",
    [
        (lambda c: c["vllm-fleet:models"][0].update(replicaz=2), "replicaz"),
        (lambda c: c["vllm-fleet:models"][0].update(workload={"type": "leaderworkerset", "startupPolicy": "Soon"}), "Soon"),
        (lambda c: c["vllm-fleet:models"][0].update(launcher="mpi"), "mpi"),
        (lambda c: c.update({"vllm-fleet:hfToken": "hf_plain"}), "hf_plain"),
        (lambda c: c.update({"vllm-fleet:namespac": "x"}), "namespac"),
    ],
)
def test_the_schema_catches_what_the_config_models_reject(schema, edit, fragment):
    document = copy.deepcopy(_stack("prod"))
    edit(document["config"])
    errors = [str(error) for error in jsonschema.Draft7Validator(schema).iter_errors(document)]
    assert errors and any(fragment in error for error in errors), errors


def test_the_check_mode_reports_a_stale_readme(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "README.md"
    stale.write_text(README.read_text().replace("| `models[].replicas` |", "| `models[].copies` |"))
    monkeypatch.setattr(config_schema, "README", stale)
    assert config_schema.main(["--check"]) == 1
    assert "README.md is out of date" in capsys.readouterr().err
