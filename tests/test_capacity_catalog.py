"""Where an architecture comes from: the shipped catalog, a `modelInfo:` block, a local config.json."""

from __future__ import annotations

import json

import pytest
import yaml

from vllm_fleet.capacity import (
    CapacityInputError,
    catalog,
    catalog_architecture,
    estimate_parameters,
    load_config_json,
    model_info_architecture,
)
from vllm_fleet.capacity.model_info import CATALOG_PATH, MAX_CONFIG_BYTES

EXPECTED_MODELS = {
    "meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-70B-Instruct", "meta-llama/Llama-3.3-70B-Instruct",
    "meta-llama/Llama-3.1-405B-Instruct", "Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-72B-Instruct", "Qwen/Qwen3-8B",
    "Qwen/Qwen3-235B-A22B", "deepseek-ai/DeepSeek-V3", "deepseek-ai/DeepSeek-R1", "mistralai/Mixtral-8x7B-Instruct-v0.1",
    "mistralai/Mixtral-8x22B-Instruct-v0.1", "google/gemma-2-9b-it", "google/gemma-2-27b-it", "google/gemma-3-27b-it",
}
# config.json of Llama-3.1-70B-Instruct, the fields the plan reads (as on the Hub).
LLAMA_70B_CONFIG = {
    "architectures": ["LlamaForCausalLM"], "hidden_size": 8192, "intermediate_size": 28672,
    "max_position_embeddings": 131072, "model_type": "llama", "num_attention_heads": 64,
    "num_hidden_layers": 80, "num_key_value_heads": 8, "tie_word_embeddings": False,
    "torch_dtype": "bfloat16", "vocab_size": 128256, "rope_scaling": {"rope_type": "llama3", "factor": 8.0},
}


def _entries():
    return {id(e): e for e in catalog().values()}.values()


def test_catalog_covers_the_widely_used_open_models():
    for model_id in EXPECTED_MODELS:
        assert catalog_architecture(model_id) is not None, model_id
        assert catalog_architecture(model_id.upper()) is not None, "ids match case-insensitively"
    assert catalog_architecture("acme/unknown-7b") is None


def test_every_catalog_id_is_listed_once():
    ids = [i.lower() for raw in yaml.safe_load(CATALOG_PATH.read_text())["models"] for i in raw["ids"]]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("entry", list(_entries()), ids=lambda e: e.ids[0])
def test_catalog_parameter_counts_agree_with_the_architecture(entry):
    """A mistyped layer count or width shows as a parameter count the published one doesn't match."""
    spec = entry.model_dump(by_alias=True, exclude_none=True)
    assert estimate_parameters(spec) == pytest.approx(entry.parameters, rel=0.02)
    if entry.experts:
        assert estimate_parameters(spec, active=True) == pytest.approx(entry.active_parameters, rel=0.02)
    assert entry.source.repo.split()[0] in entry.ids, "the source repo is one of the ids"


def test_config_json_gives_the_catalog_architecture(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(LLAMA_70B_CONFIG))
    loaded = load_config_json(path)
    catalogued = catalog_architecture("meta-llama/Llama-3.1-70B-Instruct")
    assert (loaded.parameters, loaded.kv_heads, loaded.head_dim, loaded.max_context) == (
        catalogued.parameters, catalogued.kv_heads, catalogued.head_dim, catalogued.max_context)
    assert loaded.source == str(path)


def test_config_json_of_moe_mla_and_multimodal_models(tmp_path):
    mixtral = {"hidden_size": 4096, "intermediate_size": 14336, "max_position_embeddings": 32768,
               "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
               "num_local_experts": 8, "num_experts_per_tok": 2, "vocab_size": 32000, "tie_word_embeddings": False,
               "torch_dtype": "bfloat16", "sliding_window": None}
    deepseek = {"hidden_size": 7168, "intermediate_size": 18432, "moe_intermediate_size": 2048,
                "max_position_embeddings": 163840, "num_attention_heads": 128, "num_hidden_layers": 61,
                "num_key_value_heads": 128, "n_routed_experts": 256, "n_shared_experts": 1, "num_experts_per_tok": 8,
                "first_k_dense_replace": 3, "q_lora_rank": 1536, "kv_lora_rank": 512, "qk_nope_head_dim": 128,
                "qk_rope_head_dim": 64, "v_head_dim": 128, "vocab_size": 129280, "tie_word_embeddings": False,
                "torch_dtype": "bfloat16", "quantization_config": {"quant_method": "fp8", "weight_block_size": [128, 128]}}
    gemma3 = {"architectures": ["Gemma3ForConditionalGeneration"], "torch_dtype": "bfloat16",
              "text_config": {"hidden_size": 5376, "intermediate_size": 21504, "num_attention_heads": 32,
                              "num_hidden_layers": 62, "num_key_value_heads": 16, "head_dim": 128,
                              "max_position_embeddings": 131072, "vocab_size": 262208, "sliding_window": 1024,
                              "sliding_window_pattern": 6}}
    loaded = {}
    for name, config in {"mixtral": mixtral, "deepseek": deepseek, "gemma3": gemma3}.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps(config))
        loaded[name] = load_config_json(tmp_path / name / "config.json")
    assert loaded["mixtral"].parameters == catalog_architecture("mistralai/Mixtral-8x7B-v0.1").parameters
    assert loaded["mixtral"].sliding_layers == 0
    assert (loaded["deepseek"].attention, loaded["deepseek"].quantization) == ("mla", "fp8")
    assert loaded["deepseek"].parameters == pytest.approx(671.03e9, rel=1e-4)
    assert (loaded["gemma3"].layers, loaded["gemma3"].sliding_layers, loaded["gemma3"].sliding_window) == (62, 52, 1024)
    assert loaded["gemma3"].tied_embeddings, "transformers' default tie_word_embeddings is true"


@pytest.mark.parametrize(("content", "message"), [
    ("{", ":1: not valid JSON"),
    ("[1, 2]", "a model config.json is a JSON object, got list"),
    (json.dumps({k: v for k, v in LLAMA_70B_CONFIG.items() if k != "num_hidden_layers"}),
     "missing key 'num_hidden_layers'"),
    (json.dumps({**LLAMA_70B_CONFIG, "hidden_size": "8192"}), "key 'hidden_size' must be a positive integer, got '8192'"),
    (json.dumps({**LLAMA_70B_CONFIG, "torch_dtype": "float64"}), "key 'torch_dtype' must be one of"),
    (json.dumps({**LLAMA_70B_CONFIG, "quantization_config": {"quant_method": "hqq"}}),
     "key 'quantization_config.quant_method' 'hqq'"),
    (json.dumps({**LLAMA_70B_CONFIG, "num_key_value_heads": 7}), "attentionHeads (64) must be a multiple of kvHeads (7)"),
])
def test_config_json_errors_name_the_file_and_key(tmp_path, content, message):
    path = tmp_path / "config.json"
    path.write_text(content)
    with pytest.raises(CapacityInputError) as error:
        load_config_json(path)
    assert str(error.value).startswith(str(path))
    assert message in str(error.value)


def test_config_json_that_is_missing_or_huge_is_refused(tmp_path):
    with pytest.raises(CapacityInputError, match="can't read the model config"):
        load_config_json(tmp_path / "absent.json")
    huge = tmp_path / "config.json"
    huge.write_text(" " * (MAX_CONFIG_BYTES + 1))
    with pytest.raises(CapacityInputError, match="too large for a model config.json"):
        load_config_json(huge)


def test_model_info_block_estimates_missing_parameters():
    arch = model_info_architecture({"layers": 80, "hiddenSize": 8192, "attentionHeads": 64, "kvHeads": 8,
                                    "vocabSize": 128256, "intermediateSize": 28672, "maxContext": 131072})
    assert arch.parameters == 70_553_706_496
    assert arch.head_dim == 128


@pytest.mark.parametrize(("block", "message"), [
    ({"layers": 2, "hiddenSize": 64, "attentionHeads": 4, "vocabSize": 10, "maxContext": 8, "parameters": 9,
      "hiddenSizee": 1}, "modelInfo.hiddenSizee: Extra inputs are not permitted"),
    ({"layers": 0, "hiddenSize": 64, "attentionHeads": 4, "vocabSize": 10, "maxContext": 8, "parameters": 9},
     "modelInfo.layers: Input should be greater than 0"),
    ({"layers": 2, "hiddenSize": 64, "attentionHeads": 4, "vocabSize": 10, "maxContext": 8, "parameters": 9,
      "attention": "mla"}, "attention 'mla' needs kvLoraRank"),
    ({"layers": 2, "hiddenSize": 64, "attentionHeads": 4, "vocabSize": 10, "maxContext": 8},
     "give parameters, or intermediateSize"),
    ({"layers": 2, "hiddenSize": 64, "attentionHeads": 4, "vocabSize": 10, "maxContext": 8, "parameters": 9,
      "quantization": "nf4"}, "modelInfo.quantization: Input should be"),
])
def test_model_info_errors_name_the_key(block, message):
    with pytest.raises(CapacityInputError) as error:
        model_info_architecture(block)
    assert message in str(error.value)
