"""The capacity modules wired into the stack: config keys, vLLM's rules and the memory plan in plan_fleet, cost.

Every rejection is a config error with its key path, found before any object is
rendered; warnings travel in the plan (and the CLI prints them).
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from vllm_fleet.capacity import catalog_architecture, gpu_memory_bytes, plan_memory
from vllm_fleet.capacity.cost import HOURS_PER_DAY
from vllm_fleet.config import load_fleet
from vllm_fleet.errors import ConfigError
from vllm_fleet.plan import plan_fleet, summarize
from vllm_fleet.summary import PlanSummary, gpu_request, model_cost_per_day, stack_total_line

from .conftest import base_config

LLAMA_70B = "meta-llama/Llama-3.1-70B-Instruct"
LLAMA_405B = "meta-llama/Llama-3.1-405B-Instruct"
LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"
H100_LABEL = "NVIDIA-H100-80GB-HBM3"
PRODUCT = "nvidia.com/gpu.product"


def config_with(model: dict, pool: dict | None = None, **stack) -> dict:
    """A one-model stack on 8-GPU H100 nodes unless `pool` says otherwise."""
    config = base_config(**stack)
    config["nodePool"] = pool if pool is not None else {"gpusPerNode": 8, "nodeSelector": {PRODUCT: H100_LABEL}}
    config["models"][0].update(model)
    return config


def plans(config, registry):
    return plan_fleet(load_fleet(config, registry))


def problems(config, registry) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        plans(config, registry)
    return [str(issue) for issue in caught.value.issues]


# ------------------------------------------------------------ the issue's three


@pytest.mark.parametrize("model, parallelism, path, words", [
    (LLAMA_70B, {"tensor": 7}, "models[0].parallelism.tensor", "TP=7 does not divide the model's 64 attention heads"),
    (LLAMA_70B, {"tensor": 1, "pipeline": 96}, "models[0].parallelism.pipeline", "PP=96 exceeds the model's 80 layers"),
    (LLAMA_405B, {"tensor": 1}, "models[0].parallelism", "the weights need"),
])
def test_the_three_bad_examples_are_config_errors(registry, model, parallelism, path, words):
    found = problems(config_with({"model": model, "parallelism": parallelism}), registry)
    assert len(found) == 1, found
    assert found[0].startswith(f"vllm-fleet:{path}: ") and words in found[0]


def test_rules_need_no_gpu_type(registry):
    """Heads, KV heads, layers and context are checked even when the GPU is unknown (memory plan skipped)."""
    found = problems(config_with({"model": LLAMA_70B, "parallelism": {"tensor": 7}}, pool={"gpusPerNode": 8}), registry)
    assert found == [f"vllm-fleet:models[0].parallelism.tensor: TP=7 does not divide the model's 64 attention heads; "
                     "use one of 1, 2, 4, 8, 16, 32, 64"]


def test_kv_heads_that_do_not_split_over_tp(registry):
    info = {"layers": 4, "hiddenSize": 3072, "attentionHeads": 24, "kvHeads": 12, "vocabSize": 1000, "maxContext": 4096,
            "intermediateSize": 8192}
    found = problems(config_with({"modelInfo": info, "parallelism": {"tensor": 8}}), registry)
    assert len(found) == 1 and found[0].startswith("vllm-fleet:models[0].parallelism.tensor: TP=8 and the model's 12 KV heads")


def test_max_model_len_over_the_context(registry):
    found = problems(config_with({"model": LLAMA_70B, "parallelism": {"tensor": 8},
                                  "engineArgs": {"max-model-len": 200000}}), registry)
    assert found == ["vllm-fleet:models[0].engineArgs.max-model-len: max-model-len 200000 exceeds the model's context of 131072 tokens"]


def test_one_sequence_that_does_not_fit_is_an_error_and_a_tight_fit_a_warning(registry):
    pool = {"gpusPerNode": 1, "nodeSelector": {PRODUCT: "NVIDIA-L4"}}
    model = {"model": LLAMA_8B, "parallelism": {"tensor": 1}}
    found = problems(config_with({**model, "engineArgs": {"max-model-len": 131072}}, pool), registry)
    assert len(found) == 1 and found[0].startswith("vllm-fleet:models[0].engineArgs.max-model-len: one sequence of max-model-len 131072")
    [plan] = plans(config_with({**model, "engineArgs": {"max-model-len": 8192}}, pool), registry)
    assert len(plan.warnings) == 1
    assert plan.warnings[0].startswith("vllm-fleet:models[0].engineArgs.max-model-len: the KV cache holds only")


def test_every_model_is_checked_in_one_pass(registry):
    config = config_with({"model": LLAMA_70B, "parallelism": {"tensor": 7}})
    config["models"].append({**config["models"][0], "name": "second", "parallelism": {"tensor": 1, "pipeline": 96}})
    found = problems(config, registry)
    assert [line.split(": ")[0] for line in found] == [
        "vllm-fleet:models[0].parallelism.tensor", "vllm-fleet:models[1].parallelism.pipeline"]


# ------------------------------------------------------------- the memory plan


def test_the_plan_carries_the_memory_plan_of_the_catalog_model(registry):
    [plan] = plans(config_with({"model": LLAMA_70B, "parallelism": {"tensor": 8}, "engineArgs": {"max-model-len": 32768}}), registry)
    expected = plan_memory(catalog_architecture(LLAMA_70B), gpu_memory_bytes(H100_LABEL), 8, 1, 32768)
    assert plan.capacity.memory == expected and plan.warnings == ()
    summary = summarize(plan)
    assert (summary.accelerator, summary.kv_tokens, summary.weights_per_gpu) == (H100_LABEL, expected.kv_tokens, round(expected.weights))


def test_engine_args_reach_the_memory_plan(registry):
    args = {"max-model-len": 32768, "gpu-memory-utilization": 0.95, "kv-cache-dtype": "fp8"}
    [plan] = plans(config_with({"model": LLAMA_70B, "parallelism": {"tensor": 8}, "engineArgs": args}), registry)
    expected = plan_memory(catalog_architecture(LLAMA_70B), gpu_memory_bytes(H100_LABEL), 8, 1, 32768, 0.95, 1)
    assert plan.capacity.memory.kv_tokens == expected.kv_tokens


def test_engine_args_in_any_spelling_reach_the_memory_plan(registry):
    """maxModelLen and max_model_len are the flag engine_flags passes to vLLM: the memory plan reads them too."""
    kebab = {"max-model-len": 32768, "gpu-memory-utilization": 0.95, "kv-cache-dtype": "fp8"}
    for args in ({"maxModelLen": 32768, "gpuMemoryUtilization": 0.95, "kvCacheDtype": "fp8"},
                 {"max_model_len": 32768, "gpu_memory_utilization": 0.95, "kv_cache_dtype": "fp8"}):
        [plan] = plans(config_with({"model": LLAMA_70B, "parallelism": {"tensor": 8}, "engineArgs": args}), registry)
        [same] = plans(config_with({"model": LLAMA_70B, "parallelism": {"tensor": 8}, "engineArgs": kebab}), registry)
        assert plan.capacity.memory == same.capacity.memory, args


def test_a_bad_memory_engine_arg_names_its_key(registry):
    found = problems(config_with({"model": LLAMA_70B, "parallelism": {"tensor": 8},
                                  "engineArgs": {"gpu-memory-utilization": 1.5}}), registry)
    assert found == ["vllm-fleet:models[0].engineArgs.gpu-memory-utilization: must be a fraction in (0, 1], got 1.5"]


def test_model_info_describes_a_model_the_catalog_lacks(registry):
    info = {"layers": 32, "hiddenSize": 4096, "attentionHeads": 32, "kvHeads": 8, "vocabSize": 128256,
            "intermediateSize": 14336, "maxContext": 8192}
    [plan] = plans(config_with({"modelInfo": info, "parallelism": {"tensor": 1}}), registry)
    assert plan.capacity.memory.kv_tokens > 0 and plan.warnings == ()


def test_model_config_file_is_read_relative_to_the_project(registry, tmp_path, monkeypatch):
    (tmp_path / "acme.json").write_text(json.dumps({
        "num_hidden_layers": 16, "hidden_size": 2048, "num_attention_heads": 32, "num_key_value_heads": 8,
        "vocab_size": 32000, "max_position_embeddings": 4096, "intermediate_size": 5632, "torch_dtype": "bfloat16"}))
    monkeypatch.chdir(tmp_path)
    [plan] = plans(config_with({"modelConfigFile": "acme.json", "parallelism": {"tensor": 1}}), registry)
    assert plan.capacity.memory.max_model_len == 4096
    found = problems(config_with({"modelConfigFile": "absent.json", "parallelism": {"tensor": 1}}), registry)
    assert len(found) == 1 and found[0].startswith("vllm-fleet:models[0].modelConfigFile: ") and "absent.json" in found[0]


def test_an_unknown_model_warns_unless_the_stack_requires_a_memory_plan(registry):
    [plan] = plans(config_with({"parallelism": {"tensor": 8}}), registry)
    assert plan.capacity.memory is None and summarize(plan).kv_tokens is None
    assert len(plan.warnings) == 1 and plan.warnings[0].startswith("vllm-fleet:models[0].model: memory plan and vLLM's parallelism checks skipped")
    found = problems(config_with({"parallelism": {"tensor": 8}}, requireMemoryPlan=True), registry)
    assert len(found) == 1 and found[0].startswith("vllm-fleet:models[0].model: memory plan") and "modelInfo" in found[0]


def test_an_unknown_gpu_warns_and_an_unknown_accelerator_is_an_error(registry):
    pool = {"gpusPerNode": 8, "nodeSelector": {PRODUCT: "NVIDIA-X9000"}}
    [plan] = plans(config_with({"model": LLAMA_70B, "parallelism": {"tensor": 8}}, pool), registry)
    assert plan.capacity.memory is None
    assert [w.split(": ")[0] for w in plan.warnings] == ["vllm-fleet:models[0].accelerator"]
    found = problems(config_with({"model": LLAMA_70B, "parallelism": {"tensor": 8}}, pool, requireMemoryPlan=True), registry)
    assert len(found) == 1 and found[0].startswith("vllm-fleet:models[0].accelerator: memory plan skipped")
    found = problems(config_with({"model": LLAMA_70B, "accelerator": "H1OO", "parallelism": {"tensor": 8}}, {"gpusPerNode": 8}), registry)
    assert len(found) == 1 and found[0].startswith("vllm-fleet:models[0].accelerator: unknown accelerator type 'H1OO'")


def test_gpu_memory_wins_and_a_mig_resource_sizes_the_slice(registry):
    [plan] = plans(config_with({"model": LLAMA_8B, "gpuMemory": "94Gi", "parallelism": {"tensor": 1}}), registry)
    assert plan.capacity.gpu_memory == 94 * 2**30
    pool = {"gpusPerNode": 7, "gpuResource": "nvidia.com/mig-3g.40gb", "nodeSelector": {PRODUCT: "NVIDIA-A100-SXM4-80GB"}}
    [plan] = plans(config_with({"model": LLAMA_8B, "parallelism": {"tensor": 1}, "engineArgs": {"max-model-len": 8192}}, pool), registry)
    assert (plan.capacity.accelerator, plan.capacity.gpu_memory) == ("mig-3g.40gb", 40 * 2**30)


# ------------------------------------------------------ accelerator pins nodes


def _selector(plan) -> dict:
    return plan.node_pool.node_selector


def test_accelerator_pins_the_product_label(registry):
    [plan] = plans(config_with({"model": LLAMA_70B, "accelerator": "H100", "parallelism": {"tensor": 8}}, {"gpusPerNode": 8}), registry)
    assert _selector(plan) == {PRODUCT: H100_LABEL}
    pods = [obj for obj in plan.workload_objects if obj.kind == "StatefulSet"]
    assert pods and all(o.body["spec"]["template"]["spec"]["nodeSelector"][PRODUCT] == H100_LABEL for o in pods)


def test_accelerator_of_the_pinned_type_keeps_the_pools_label(registry):
    pool = {"gpusPerNode": 8, "nodeSelector": {PRODUCT: "NVIDIA-H100-80GB-HBM3", "pool": "a"}}
    [plan] = plans(config_with({"model": LLAMA_70B, "accelerator": "h100-sxm", "parallelism": {"tensor": 8}}, pool), registry)
    assert _selector(plan) == pool["nodeSelector"]


def test_accelerator_against_another_pinned_type_names_both_keys(registry):
    pool = {"gpusPerNode": 8, "nodeSelector": {PRODUCT: "NVIDIA-A100-SXM4-80GB"}}
    found = problems(config_with({"model": LLAMA_70B, "accelerator": "H100", "parallelism": {"tensor": 8}}, pool), registry)
    assert found == ["vllm-fleet:models[0].accelerator: 'H100' conflicts with vllm-fleet:nodePool.nodeSelector "
                     "nvidia.com/gpu.product=NVIDIA-A100-SXM4-80GB: set the same GPU type in both, or drop one"]
    config = config_with({"model": LLAMA_70B, "accelerator": "H100", "parallelism": {"tensor": 8}, "nodePool": pool})
    assert "vllm-fleet:models[0].nodePool.nodeSelector" in problems(config, registry)[0]


# ------------------------------------------------------------------- pricing


def test_a_pricing_key_no_gpu_has_is_an_error(registry):
    found = problems(config_with({"model": LLAMA_70B, "parallelism": {"tensor": 8}}, pricing={"H10": 2.49}), registry)
    assert len(found) == 1 and found[0].startswith("vllm-fleet:pricing.H10: 'H10' is no GPU type") and "did you mean" in found[0]


def test_a_negative_price_is_an_error(registry):
    found = problems(config_with({"model": LLAMA_70B, "parallelism": {"tensor": 8}}, pricing={"H100": -1}), registry)
    assert len(found) == 1 and found[0].startswith("vllm-fleet:pricing: ")


def test_a_custom_accelerator_with_gpu_memory_can_be_priced(registry):
    config = config_with({"model": LLAMA_8B, "accelerator": "Gaudi3", "gpuMemory": "128Gi", "parallelism": {"tensor": 1}},
                         {"gpusPerNode": 8}, pricing={"gaudi3": 1.5})
    [plan] = plans(config, registry)
    assert _selector(plan) == {}, "no NVIDIA product label to pin for a type the GPU table lacks"
    row = summarize(plan)
    assert model_cost_per_day(row, {"gaudi3": "1.5"}) == f"${Decimal('1.5') * HOURS_PER_DAY:,.2f}"


def _row(**fields) -> PlanSummary:
    values = dict(tensor=8, pipeline=1, pods=1, head_gpus=8, worker_gpus=8, group_gpus=8, replicas=1, min_replicas=1,
                  max_replicas=1, total_gpus=8,
                  launcher="single-pod", workload="statefulsets", api_url="http://x", accelerator=H100_LABEL)
    return PlanSummary(**{**values, **fields})


def test_stack_totals_sum_gpus_hours_and_cost_per_type():
    models = {"a": _row(total_gpus=16), "b": _row(total_gpus=8), "c": _row(total_gpus=2, accelerator="NVIDIA-L4")}
    line = stack_total_line(models, {"H100": "2.49"})
    cost = Decimal("2.49") * 24 * HOURS_PER_DAY
    assert line == (f"24 H100-80GB-SXM, 2 L4; {26 * HOURS_PER_DAY:,} GPU-hours/day; ${cost:,.2f}/day "
                    "(no price per GPU-hour for L4: set vllm-fleet:pricing)")


def test_cost_takes_a_gpu_range_for_autoscaling():
    request = gpu_request(_row(total_gpus=8), min_gpus=8, max_gpus=24)
    assert (request.accelerator, request.min_gpus, request.max_gpus) == ("H100-80GB-SXM", 8, 24)
    assert gpu_request(_row(total_gpus=8)).max_gpus == 8
