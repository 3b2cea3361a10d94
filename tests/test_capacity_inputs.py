"""The thin inputs: where the architecture comes from, engine args for the memory plan, the node label."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from vllm_fleet.capacity import CapacityInputError, gpu_memory_bytes, plan_memory
from vllm_fleet.capacity.inputs import (
    ModelCapacity,
    accelerator_from_labels,
    architecture_for,
    memory_engine_args,
)

INFO = {"layers": 2, "hiddenSize": 64, "attentionHeads": 4, "vocabSize": 10, "maxContext": 4096, "parameters": 999}


def test_model_info_wins_then_config_file_then_catalog(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({
        "num_hidden_layers": 3, "hidden_size": 64, "num_attention_heads": 4, "vocab_size": 10,
        "max_position_embeddings": 2048, "intermediate_size": 128}))
    both = ModelCapacity.model_validate({"modelInfo": INFO, "modelConfigFile": "config.json"})
    assert architecture_for("meta-llama/Llama-3.1-8B-Instruct", both, tmp_path).layers == 2
    from_file = ModelCapacity.model_validate({"modelConfigFile": "config.json"})
    assert architecture_for("meta-llama/Llama-3.1-8B-Instruct", from_file, tmp_path).layers == 3
    assert architecture_for("meta-llama/Llama-3.1-8B-Instruct", ModelCapacity()).layers == 32


def test_an_unknown_model_without_info_says_what_to_add():
    with pytest.raises(CapacityInputError, match="model: 'acme/x' is not in the catalog of [0-9]+ models.*modelInfo"):
        architecture_for("acme/x", ModelCapacity())


def test_a_missing_config_file_names_the_key(tmp_path):
    with pytest.raises(CapacityInputError, match="^modelConfigFile: .*absent.json: can't read"):
        architecture_for("acme/x", ModelCapacity(model_config_file="absent.json"), tmp_path)


def test_capacity_keys_are_strict_camel_case():
    with pytest.raises(ValidationError, match="gpuMemry"):
        ModelCapacity.model_validate({"gpuMemry": "80Gi"})
    with pytest.raises(ValidationError, match="must be a Kubernetes quantity"):
        ModelCapacity.model_validate({"gpuMemory": "eighty"})
    with pytest.raises(ValidationError, match=r"modelInfo\.layers"):
        ModelCapacity.model_validate({"modelInfo": {**INFO, "layers": -1}})


def test_engine_args_feed_the_memory_plan():
    args = memory_engine_args({"max-model-len": "8192", "gpu-memory-utilization": 0.85, "kv-cache-dtype": "fp8"})
    assert args == {"max_model_len": 8192, "utilization": 0.85, "kv_dtype_bytes": 1}
    assert memory_engine_args({}) == {"max_model_len": None, "utilization": 0.9, "kv_dtype_bytes": None}
    capacity = ModelCapacity(accelerator="H100")
    plan = plan_memory(architecture_for("meta-llama/Llama-3.1-8B-Instruct", capacity),
                       gpu_memory_bytes(capacity.accelerator), **args)
    assert (plan.max_model_len, plan.utilization, plan.kv_bytes_per_token) == (8192, 0.85, 2 * 32 * 8 * 128 * 1)


def test_token_counts_read_as_vllm_reads_them():
    read = lambda value: memory_engine_args({"max-model-len": value})["max_model_len"]  # noqa: E731
    assert [read(v) for v in ("32k", "32K", "25.6k", "1m", 8192, "8192", "auto", -1)] == [
        32000, 32768, 25600, 1000000, 8192, 8192, None, None]


@pytest.mark.parametrize(("args", "message"), [
    ({"max-model-len": "lots"}, "engineArgs.max-model-len: must be a positive number of tokens (8192, 32k, 32K or auto), got 'lots'"),
    ({"max-model-len": "25.6K"}, "engineArgs.max-model-len"),  # vLLM refuses decimals with binary suffixes
    ({"max-model-len": True}, "engineArgs.max-model-len"),
    ({"gpu-memory-utilization": 1.5}, "engineArgs.gpu-memory-utilization: must be a fraction in (0, 1], got 1.5"),
    ({"gpu-memory-utilization": "most"}, "engineArgs.gpu-memory-utilization"),
    ({"kv-cache-dtype": "int2"}, "engineArgs.kv-cache-dtype: 'int2' is none of auto"),
])
def test_engine_arg_errors_name_the_key(args, message):
    with pytest.raises(CapacityInputError) as error:
        memory_engine_args(args)
    assert message in str(error.value)


def test_accelerator_from_the_node_selector():
    assert accelerator_from_labels({"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}) == "NVIDIA-H100-80GB-HBM3"
    assert accelerator_from_labels({"pool": "gpu"}) is None
