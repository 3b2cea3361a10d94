"""The memory plan per GPU: vLLM's parallelism rules, weights and KV room on known figures, GPU memory."""

from __future__ import annotations

import math

import pytest

from vllm_fleet.capacity import (
    CapacityInputError,
    catalog_architecture,
    gpu_by_name,
    gpu_memory_bytes,
    mig_memory_bytes,
    model_info_architecture,
    parallelism_issues,
    plan_memory,
    weights_per_gpu,
)
from vllm_fleet.capacity.memory import BLOCK_SIZE, DEFAULT_RESERVE_BYTES, TIGHT_SEQUENCES, kv_bytes_per_sequence

GIB = 2**30
MIB = 2**20
LLAMA_70B = "meta-llama/Llama-3.1-70B-Instruct"


def _arch(model_id: str):
    arch = catalog_architecture(model_id)
    assert arch is not None, model_id
    return arch


def _errors(plan_or_issues):
    issues = getattr(plan_or_issues, "issues", plan_or_issues)
    return [(i.field, i.message) for i in issues if i.severity == "error"]


# ------------------------------------------------------------ known figures


def test_llama_70b_bf16_weights_are_about_141_gb():
    arch = _arch(LLAMA_70B)
    assert arch.parameters == 70_553_706_496
    assert arch.weight_bytes == arch.parameters * 2
    assert round(arch.weight_bytes / 1e9, 1) == 141.1


def test_llama_70b_on_tp8_of_80gib_kv_room_follows_the_formula():
    """KV bytes/token/GPU = 2 × layers × (kv_heads / TP) × head_dim × dtype bytes; room = mem × 0.9 − weights − reserve."""
    arch = _arch(LLAMA_70B)
    memory = 80 * GIB
    plan = plan_memory(arch, memory, tensor=8, pipeline=1, max_model_len=32768)

    weights = 70_553_706_496 * 2 / 8
    kv_per_token = 2 * 80 * (8 // 8) * 128 * 2
    room = memory * 0.9 - weights - DEFAULT_RESERVE_BYTES
    tokens = math.floor(room / (kv_per_token * BLOCK_SIZE)) * BLOCK_SIZE

    assert plan.weights == weights
    assert plan.kv_bytes_per_token == kv_per_token == 40_960
    assert plan.kv_room == pytest.approx(room)
    assert plan.kv_tokens == tokens
    assert 1_300_000 < tokens < 1_400_000  # about 1.38 M tokens: 42 sequences of 32k
    assert plan.sequences == pytest.approx(room / (kv_per_token * 32768))
    assert plan.issues == ()


def test_kv_heads_are_replicated_when_tp_exceeds_them():
    """TP=16 on 8 KV heads: each GPU keeps one whole KV head (vLLM replicates), so KV per token doesn't halve."""
    arch = _arch(LLAMA_70B)
    assert arch.kv_bytes_per_token_per_layer(2, tensor=16) == arch.kv_bytes_per_token_per_layer(2, tensor=8) == 2 * 128 * 2
    assert arch.kv_bytes_per_token_per_layer(2, tensor=4) == 2 * 2 * 128 * 2


def test_mla_latent_cache_is_the_same_on_every_tp_rank():
    """DeepSeek-V3: (kv_lora_rank + qk_rope_head_dim) × bytes per layer, replicated, not split by TP."""
    arch = _arch("deepseek-ai/DeepSeek-V3")
    assert arch.attention == "mla"
    for tensor in (1, 8, 16):
        assert arch.kv_bytes_per_token_per_layer(2, tensor=tensor) == (512 + 64) * 2
    plan = plan_memory(arch, gpu_by_name("H200").memory_bytes, tensor=8, max_model_len=32768)
    assert plan.kv_bytes_per_token == 61 * 576 * 2
    assert _errors(plan) == []


def test_fp8_checkpoint_keeps_embeddings_in_bf16():
    arch = _arch("deepseek-ai/DeepSeek-R1")
    embeddings = 2 * 129280 * 7168
    assert arch.weight_bytes == (arch.parameters - embeddings) * 1 + embeddings * 2


def test_pipeline_stage_holds_its_share_of_layers_and_one_embedding():
    arch = _arch(LLAMA_70B)
    embedding = 128256 * 8192 * 2
    body = arch.weight_bytes - 2 * embedding
    assert weights_per_gpu(arch, tensor=4, pipeline=2) == (body / 2 + embedding) / 4
    assert weights_per_gpu(arch, tensor=4, pipeline=1) == arch.weight_bytes / 4


def test_sliding_window_layers_keep_only_the_window():
    arch = _arch("google/gemma-2-9b-it")
    per_layer = 2 * 8 * 256 * 2
    assert kv_bytes_per_sequence(arch, 8192, 1, 1, 2) == per_layer * (21 * 8192 + 21 * 4096)
    assert kv_bytes_per_sequence(arch, 2048, 1, 1, 2) == per_layer * 42 * 2048


def test_kv_cache_dtype_fp8_halves_the_kv_bytes():
    arch = _arch(LLAMA_70B)
    auto = plan_memory(arch, 80 * GIB, tensor=8, max_model_len=8192)
    fp8 = plan_memory(arch, 80 * GIB, tensor=8, max_model_len=8192, kv_dtype_bytes=1)
    assert fp8.kv_bytes_per_token == auto.kv_bytes_per_token / 2
    assert fp8.kv_tokens >= 2 * auto.kv_tokens - BLOCK_SIZE


# ---------------------------------------------------------------- rejections


def test_tp_7_for_a_64_head_model_is_rejected():
    errors = _errors(parallelism_issues(_arch(LLAMA_70B), 7, 1, None))
    assert errors == [(("parallelism", "tensor"),
                       "TP=7 does not divide the model's 64 attention heads; use one of 1, 2, 4, 8, 16, 32, 64")]


def test_pp_96_for_an_80_layer_model_is_rejected():
    errors = _errors(parallelism_issues(_arch(LLAMA_70B), 8, 96, None))
    assert errors == [(("parallelism", "pipeline"),
                       "PP=96 exceeds the model's 80 layers; every stage needs a layer, so use at most 80")]
    assert _errors(parallelism_issues(_arch(LLAMA_70B), 1, 80, None)) == []


def test_405b_on_one_gpu_is_rejected_with_the_gpus_it_needs():
    plan = plan_memory(_arch("meta-llama/Llama-3.1-405B-Instruct"), gpu_by_name("H100").memory_bytes)
    [(field, message)] = _errors(plan)
    assert field == ("parallelism",)
    assert "the weights need 756.0 GiB per GPU on 1 GPU(s) (TP=1 × PP=1)" in message
    assert "at least 12 such GPUs" in message
    assert plan.kv_tokens == 0


def test_kv_heads_that_tp_neither_divides_nor_multiplies_are_rejected():
    arch = model_info_architecture({"layers": 4, "hiddenSize": 6144, "attentionHeads": 48, "kvHeads": 12,
                                    "vocabSize": 1000, "intermediateSize": 1024, "maxContext": 4096})
    [(field, message)] = _errors(parallelism_issues(arch, 8, 1, None))
    assert field == ("parallelism", "tensor")
    assert "TP=8 and the model's 12 KV heads" in message
    assert _errors(parallelism_issues(arch, 24, 1, None)) == []  # 24 = 2 × 12: each KV head twice
    assert _errors(parallelism_issues(arch, 4, 1, None)) == []   # 12 / 4 = 3 heads per GPU


def test_max_model_len_beyond_the_context_is_rejected():
    errors = _errors(parallelism_issues(_arch("Qwen/Qwen2.5-72B-Instruct"), 8, 1, 65536))
    assert errors == [(("engineArgs", "max-model-len"), "max-model-len 65536 exceeds the model's context of 32768 tokens")]


def test_one_sequence_that_does_not_fit_is_an_error_and_few_is_a_warning():
    arch, l4 = _arch("meta-llama/Llama-3.1-8B-Instruct"), gpu_by_name("L4").memory_bytes
    [(field, message)] = _errors(plan_memory(arch, l4))
    assert field == ("engineArgs", "max-model-len")
    assert message.startswith("one sequence of max-model-len 131072 needs 16.0 GiB of KV cache per GPU")
    tight = plan_memory(arch, l4, max_model_len=8192)
    assert _errors(tight) == [] and 1 <= tight.sequences < TIGHT_SEQUENCES
    assert "holds only 2.3 sequences of max-model-len 8192" in tight.warnings[0].message
    assert plan_memory(arch, l4, max_model_len=2048).issues == ()


# ------------------------------------------------------------------- GPUs


def test_gpu_memory_from_type_label_mig_profile_or_quantity():
    assert gpu_memory_bytes("NVIDIA-H100-80GB-HBM3") == 81559 * MIB
    assert gpu_memory_bytes("h200") == 143771 * MIB
    assert gpu_memory_bytes("A100-SXM4-40GB") == 40960 * MIB
    assert gpu_memory_bytes("H100", gpu_resource="nvidia.com/mig-3g.40gb") == 40 * GIB
    assert gpu_memory_bytes("H100", gpu_resource="nvidia.com/gpu") == 81559 * MIB
    assert gpu_memory_bytes("H100", gpu_memory="94Gi") == 94 * GIB
    assert mig_memory_bytes("nvidia.com/mig-1g.10gb.me") == 10 * GIB
    assert mig_memory_bytes("nvidia.com/gpu") is None


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"accelerator": "H10"}, "unknown accelerator type 'H10' (did you mean"),
    ({"accelerator": "TPU-v5"}, "or set gpuMemory (e.g. '80Gi')"),
    ({"gpu_memory": "lots"}, "gpuMemory: must be a Kubernetes quantity"),
    ({"gpu_memory": "512Mi"}, "gpuMemory: '512Mi' is less than 1Gi"),
    ({}, "no accelerator type, MIG resource or gpuMemory"),
])
def test_gpu_memory_errors_say_what_is_valid(kwargs, message):
    with pytest.raises(CapacityInputError, match=None) as error:
        gpu_memory_bytes(**kwargs)
    assert message in str(error.value)
