"""A `modelConfigFile` model built by the installed vLLM (vLLM's CPU build): what it rejects, with key paths.

Runs under .venv-vllm. The path without vLLM (only the restated rules) is
tests/test_vllm_config_check.py.
"""

from __future__ import annotations

import json
import os
import socket

import pytest

from tests.test_capacity_wiring import config_with, plans, problems
from vllm_fleet.cli import main

from .installed_vllm import IMAGE, INSTALLED

#: A small Llama shape: 64 query heads over 8 KV heads, 4 layers, 4096 tokens of context.
LLAMA_SHAPE = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 512, "hidden_size": 1024,
    "intermediate_size": 2048, "num_hidden_layers": 4, "num_attention_heads": 64, "num_key_value_heads": 8,
    "max_position_embeddings": 4096, "torch_dtype": "bfloat16", "tie_word_embeddings": False,
}


def _model(tmp_path, monkeypatch, image: str = IMAGE, **model) -> dict:
    """The stack's model keys, its config.json written under the project folder (the working directory)."""
    shape = {**LLAMA_SHAPE, **model.pop("shape", {})}
    (tmp_path / "acme").mkdir(exist_ok=True)
    (tmp_path / "acme" / "config.json").write_text(json.dumps(shape))
    monkeypatch.chdir(tmp_path)
    return {"model": "acme/tiny", "modelConfigFile": "acme/config.json", "image": image, **model}


def test_a_config_vllm_accepts_plans_without_findings(registry, tmp_path, monkeypatch):
    model = _model(tmp_path, monkeypatch, parallelism={"tensor": 8, "pipeline": 2},
                   engineArgs={"max-model-len": 4096, "dtype": "bfloat16"})
    [plan] = plans(config_with(model), registry)
    assert plan.warnings == () and plan.capacity.memory.max_model_len == 4096


@pytest.mark.parametrize("model, key, words", [
    ({"parallelism": {"tensor": 7}}, "parallelism.tensor",
     "vLLM rejects it: Total number of attention heads (64) must be divisible by tensor parallel size (7)"),
    ({"parallelism": {"tensor": 8}, "engineArgs": {"max-model-len": 8192}}, "engineArgs.max-model-len",
     "vLLM rejects it: User-specified max_model_len (8192) is greater than the derived max_model_len"),
    ({"parallelism": {"tensor": 8}, "shape": {"architectures": ["FrobnicatorForCausalLM"]}}, "modelConfigFile",
     "vLLM rejects it: Model architectures ['FrobnicatorForCausalLM'] are not supported for now"),
    ({"parallelism": {"tensor": 8}, "engineArgs": {"quantization": "awq"},
      "shape": {"quantization_config": {"quant_method": "fp8", "activation_scheme": "dynamic"}}},
     "engineArgs.quantization", "does not match the quantization method specified in the `quantization` argument"),
])
def test_what_vllm_rejects_is_one_error_at_its_key(registry, tmp_path, monkeypatch, model, key, words):
    found = problems(config_with(_model(tmp_path, monkeypatch, **model)), registry)
    assert len(found) == 1, found  # vLLM's words replace the restated rule of the same key
    assert found[0].startswith(f"vllm-fleet:models[0].{key}: vLLM rejects it: ") and words in found[0]
    assert "\n" not in found[0] and "vllm-fleet-config-" not in found[0], "one line, naming no temporary copy"


def test_another_image_version_makes_vllms_rejection_a_warning(registry, tmp_path, monkeypatch):
    model = _model(tmp_path, monkeypatch, image="vllm/vllm-openai:v9.9.9", parallelism={"tensor": 8},
                   shape={"architectures": ["FrobnicatorForCausalLM"]})
    [plan] = plans(config_with(model), registry)
    assert len(plan.warnings) == 1, plan.warnings
    assert plan.warnings[0].startswith("vllm-fleet:models[0].modelConfigFile: vLLM rejects it: Model architectures")
    assert plan.warnings[0].endswith(f"(said by the installed vLLM {INSTALLED}; vllm/vllm-openai:v9.9.9 runs vLLM 9.9.9)")


def test_the_check_stays_off_the_network_and_restores_the_environment(registry, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)

    def no_network(self, address):
        raise AssertionError(f"the config check connected to {address}")

    model = _model(tmp_path, monkeypatch, parallelism={"tensor": 7})
    monkeypatch.setattr(socket.socket, "connect", no_network)
    found = problems(config_with(model), registry)
    assert [line.split(": vLLM rejects it: ")[0] for line in found] == ["vllm-fleet:models[0].parallelism.tensor"]
    assert "HF_HUB_OFFLINE" not in os.environ and "TRANSFORMERS_OFFLINE" not in os.environ


def test_a_model_that_needs_remote_code_is_not_built(registry, tmp_path, monkeypatch):
    shape = {"architectures": ["AcmeForCausalLM"], "model_type": "acme",
             "auto_map": {"AutoConfig": "configuration_acme.AcmeConfig"}}
    model = _model(tmp_path, monkeypatch, parallelism={"tensor": 8}, shape=shape)
    assert "custom code" in problems(config_with(model), registry)[0]
    [plan] = plans(config_with({**model, "engineArgs": {"trust-remote-code": True}}), registry)
    assert plan.warnings == ()


@pytest.mark.parametrize("command", ["render", "plan"])
def test_the_cli_exits_2_with_vllms_words_and_writes_nothing(command, stack_project, tmp_path, capsys):
    project = stack_project(test={
        "namespace": "llm-test",
        "nodePool": {"gpusPerNode": 8, "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}},
        "models": [{"name": "m", "model": "acme/tiny", "modelConfigFile": "acme/config.json", "image": IMAGE,
                    "parallelism": {"tensor": 8}, "engineArgs": {"max-model-len": 8192},
                    "storage": {"type": "new-pvc", "size": "100Gi"}}],
    }).directory
    (project / "acme").mkdir()
    (project / "acme" / "config.json").write_text(json.dumps(LLAMA_SHAPE))
    out = tmp_path / "out"
    assert main(["--project-dir", str(project), command, "test", "--out", str(out)]) == 2
    header, line = capsys.readouterr().err.strip().splitlines()
    assert header == "error: invalid stack config (1 problem):"
    assert line.startswith("  - vllm-fleet:models[0].engineArgs.max-model-len: vLLM rejects it: User-specified max_model_len")
    assert not out.exists()
