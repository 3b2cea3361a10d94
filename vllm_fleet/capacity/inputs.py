"""The thin inputs the plan will pass in: per-model capacity keys, engine args, the node pool's GPU label.

Why here and not in config.py: the stack config is being restructured (per-role
plans, workloads, replicas); these models and readers are self-contained so that
wiring them is a field on the model config and one call in the plan. Every
error names its key relative to the model (`modelInfo.layers`,
`engineArgs.max-model-len`), like `PlanError.field`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping, Optional

from pydantic import Field, field_validator

from ..quantity import parse_quantity
from ..strict import StrictModel
from ..vllm_args.snapshot_parser import human_readable_int
from .architecture import ModelArchitecture
from .memory import DEFAULT_UTILIZATION
from .model_info import CapacityInputError, ModelInfo, catalog, catalog_architecture, load_config_json

#: The GPU feature discovery label naming a node's GPU (e.g. NVIDIA-H100-80GB-HBM3).
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
#: vLLM's --kv-cache-dtype choices and their bytes per value (None: the model's dtype).
KV_CACHE_DTYPES: dict[str, Optional[float]] = {
    "auto": None, "bfloat16": 2, "float16": 2, "fp8": 1, "fp8_e4m3": 1, "fp8_e5m2": 1, "fp8_inc": 1, "fp8_ds_mla": 1,
}


class ModelCapacity(StrictModel):
    """Per-model keys for the memory plan: where the architecture and the GPU memory come from."""

    model_info: Optional[ModelInfo] = Field(None, description="The architecture, for a model the catalog lacks.")
    model_config_file: Optional[str] = Field(None, description="A local Hugging Face config.json to read it from.")
    accelerator: Optional[str] = Field(None, description="GPU type (H100, NVIDIA-H100-80GB-HBM3, …); default: node label.")
    gpu_memory: Optional[str] = Field(None, description="One GPU's memory as a quantity (e.g. '80Gi'); wins over the type.")

    @field_validator("gpu_memory")
    @classmethod
    def _quantity(cls, value: Optional[str]) -> Optional[str]:
        if value is not None:
            parse_quantity(value)
        return value


def architecture_for(model_id: str, capacity: ModelCapacity, base_dir: Path = Path(".")) -> ModelArchitecture:
    """`modelInfo` first, then `modelConfigFile` (relative to `base_dir`), then the catalog by model id."""
    if capacity.model_info is not None:
        return capacity.model_info.architecture("modelInfo")
    if capacity.model_config_file is not None:
        try:
            return load_config_json(base_dir / capacity.model_config_file)
        except CapacityInputError as error:
            raise CapacityInputError(f"modelConfigFile: {error}") from None
    found = catalog_architecture(model_id)
    if found is None:
        known = len({id(entry) for entry in catalog().values()})
        raise CapacityInputError(
            f"model: {model_id!r} is not in the catalog of {known} models (docs/capacity.md); "
            "describe it with modelInfo or point modelConfigFile at its config.json"
        )
    return found


def accelerator_from_labels(node_selector: Mapping[str, str]) -> Optional[str]:
    """The GPU type a node pool's selector pins, if it pins one."""
    return node_selector.get(GPU_PRODUCT_LABEL)


#: The token counts vLLM reads (`human_readable_int`): 32k = 32000, 32K = 32768, 25.6k = 25600; no decimals with K.
HUMAN_READABLE_INT = re.compile(r"\d+(?:\.\d+)?[kmgt]|\d+[KMGT]")


def _tokens(key: str, value: Any) -> Optional[int]:
    """A token count as vLLM reads it; None for `auto`/-1 (vLLM picks the length)."""
    text = "" if isinstance(value, bool) else str(value).strip()
    if text == "-1" or text.lower() == "auto":
        return None
    if text.isdigit() and int(text) > 0:
        return int(text)
    if HUMAN_READABLE_INT.fullmatch(text):
        return human_readable_int(text)
    raise CapacityInputError(
        f"engineArgs.{key}: must be a positive number of tokens (8192, 32k, 32K or auto), got {value!r}"
    )


def _int_arg(engine_args: Mapping[str, Any], key: str) -> Optional[int]:
    value = engine_args.get(key)
    return None if value is None else _tokens(key, value)


def memory_engine_args(engine_args: Mapping[str, Any]) -> dict[str, Any]:
    """max-model-len, gpu-memory-utilization and kv-cache-dtype as `plan_memory` keyword arguments."""
    utilization = engine_args.get("gpu-memory-utilization", DEFAULT_UTILIZATION)
    try:
        utilization = float(utilization)
    except (TypeError, ValueError):
        utilization = -1.0
    if isinstance(engine_args.get("gpu-memory-utilization"), bool) or not 0 < utilization <= 1:
        given = engine_args.get("gpu-memory-utilization")
        raise CapacityInputError(f"engineArgs.gpu-memory-utilization: must be a fraction in (0, 1], got {given!r}")
    kv_dtype = str(engine_args.get("kv-cache-dtype", "auto"))
    if kv_dtype not in KV_CACHE_DTYPES:
        raise CapacityInputError(f"engineArgs.kv-cache-dtype: {kv_dtype!r} is none of {', '.join(KV_CACHE_DTYPES)}")
    return {"max_model_len": _int_arg(engine_args, "max-model-len"), "utilization": utilization,
            "kv_dtype_bytes": KV_CACHE_DTYPES[kv_dtype]}
