"""Capacity before deploy: a model's architecture, vLLM's parallelism rules, memory per GPU, and cost.

Pure modules with plain inputs, so the plan (per role, per replica) can call
them without this package knowing the stack config:

- `model_info`: the catalog (`vllm_fleet/data/model_catalog.yaml`), `modelInfo:` blocks, local config.json;
- `gpus`: memory of a GPU type, a MIG profile, or an explicit `gpuMemory`;
- `memory`: the rules vLLM enforces at start and the memory plan of one GPU;
- `inputs`: the per-model keys (`modelInfo`, `modelConfigFile`, `accelerator`, `gpuMemory`) and engine args;
- `cost`: GPUs requested, GPU-hours and cost per day, and the delta of a change;
- `vllm_check`: an importable vLLM's own engine config built from a local config.json (imported by the plan only).
"""

from .architecture import ModelArchitecture, estimate_parameters
from .cost import AcceleratorCost, GpuRequest, Pricing, cost_delta, stack_cost
from .gpus import GPUS, Gpu, canonical_accelerator, gpu_by_name, gpu_memory_bytes, mig_memory_bytes
from .memory import CapacityIssue, MemoryPlan, parallelism_issues, plan_memory, weights_per_gpu
from .model_info import (
    CapacityInputError,
    ModelInfo,
    catalog,
    catalog_architecture,
    load_config_json,
    model_info_architecture,
)

__all__ = [
    "AcceleratorCost", "GpuRequest", "Pricing", "canonical_accelerator", "cost_delta", "stack_cost",
    "GPUS", "CapacityInputError", "CapacityIssue", "Gpu", "MemoryPlan", "ModelArchitecture", "ModelInfo",
    "catalog", "catalog_architecture", "estimate_parameters", "gpu_by_name", "gpu_memory_bytes",
    "load_config_json", "mig_memory_bytes", "model_info_architecture", "parallelism_issues", "plan_memory",
    "weights_per_gpu",
]
