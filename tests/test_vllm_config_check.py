"""The vLLM-built config check of a `modelConfigFile` model, seen from the project's venv (no vLLM).

Without vLLM nothing changes: the restated rules run and vLLM is never asked.
The wiring around the check (which models, which arguments, error or warning
by the image's version, the restated rule it replaces) is tested with a
stand-in for the check; the check itself runs against vLLM in
tests/real_engine/test_vllm_config_live.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from vllm_fleet import capacity_plan
from vllm_fleet.capacity import CapacityIssue
from vllm_fleet.vllm_args import live

from .test_capacity_wiring import config_with, plans, problems

SHAPE = {
    "architectures": ["FrobnicatorForCausalLM"], "model_type": "frobnicator", "vocab_size": 512,
    "hidden_size": 1024, "intermediate_size": 2048, "num_hidden_layers": 4, "num_attention_heads": 64,
    "num_key_value_heads": 8, "max_position_embeddings": 4096, "torch_dtype": "bfloat16",
}


@pytest.fixture
def model(tmp_path, monkeypatch) -> dict:
    (tmp_path / "config.json").write_text(json.dumps(SHAPE))
    monkeypatch.chdir(tmp_path)
    return {"model": "acme/frobnicator", "modelConfigFile": "config.json", "image": "vllm/vllm-openai:v0.33.0"}


@pytest.fixture
def asked(monkeypatch) -> list[tuple]:
    """A stand-in vLLM 0.33.0 that rejects every TP and records what it was asked."""
    calls: list[tuple] = []

    def stand_in(config_file, tensor, pipeline, **engine):
        calls.append((config_file, tensor, pipeline, engine))
        return [CapacityIssue("error", ("parallelism", "tensor"), "vLLM rejects it: no TP for you")]

    monkeypatch.setattr(capacity_plan, "installed_version", lambda: "0.33.0")
    monkeypatch.setattr(capacity_plan, "vllm_config_issues", stand_in)
    return calls


def test_without_vllm_only_the_restated_rules_run(registry, model, monkeypatch):
    assert live.installed_version() is None, "the project's venv has no vLLM; this test is about that path"

    def never(*args, **kwargs):
        raise AssertionError("vLLM's config check ran without vLLM")

    monkeypatch.setattr(capacity_plan, "vllm_config_issues", never)
    [plan] = plans(config_with({**model, "parallelism": {"tensor": 8}}), registry)
    assert plan.warnings == () and plan.capacity.memory.max_model_len == 4096  # an architecture only vLLM would refuse
    found = problems(config_with({**model, "parallelism": {"tensor": 7}}), registry)
    assert len(found) == 1 and found[0].startswith("vllm-fleet:models[0].parallelism.tensor: TP=7 does not divide")
    assert "vllm" not in sys.modules


def test_vllms_rejection_replaces_the_restated_rule_of_its_key(registry, model, asked):
    engine = {"max-model-len": "4k", "dtype": "bfloat16", "quantization": "fp8"}
    found = problems(config_with({**model, "parallelism": {"tensor": 7, "pipeline": 2}, "engineArgs": engine}), registry)
    assert found == ["vllm-fleet:models[0].parallelism.tensor: vLLM rejects it: no TP for you"]
    assert asked == [(Path("config.json"), 7, 2, {"max_model_len": 4000, "dtype": "bfloat16", "quantization": "fp8"})]


def test_another_image_version_makes_it_a_warning_beside_the_restated_rule(registry, model, asked):
    found = problems(config_with({**model, "parallelism": {"tensor": 7}, "image": "vllm/vllm-openai:v0.32.0"}), registry)
    assert len(found) == 1 and "TP=7 does not divide" in found[0]
    [plan] = plans(config_with({**model, "parallelism": {"tensor": 8}, "image": "vllm/vllm-openai:v0.32.0"}), registry)
    assert plan.warnings == ("vllm-fleet:models[0].parallelism.tensor: vLLM rejects it: no TP for you "
                             "(said by the installed vLLM 0.33.0; vllm/vllm-openai:v0.32.0 runs vLLM 0.32.0)",)


@pytest.mark.parametrize("keys", [
    {"engineArgs": {"trust-remote-code": True}},
    {"modelInfo": {"layers": 4, "hiddenSize": 1024, "attentionHeads": 64, "vocabSize": 512, "maxContext": 4096,
                   "intermediateSize": 2048}},
])
def test_vllm_is_not_asked_for_remote_code_or_a_model_info_block(registry, model, asked, keys):
    [plan] = plans(config_with({**model, "parallelism": {"tensor": 8}, **keys}), registry)
    assert asked == [] and plan.warnings == ()


def test_a_vllm_that_does_not_load_is_a_warning_not_a_crash(registry, model, monkeypatch):
    monkeypatch.setattr(capacity_plan, "installed_version", lambda: "0.33.0")  # found, but no module to import
    [plan] = plans(config_with({**model, "parallelism": {"tensor": 8}}), registry)
    assert plan.warnings == ("vllm-fleet:models[0].modelConfigFile: vLLM's config check skipped: the installed vLLM "
                             "did not load (ModuleNotFoundError: No module named 'vllm')",)
