"""Where a model's architecture comes from: the shipped catalog, a `modelInfo:` block, or a local config.json.

The three paths meet in `ModelInfo` (camelCase keys like the stack file), so a
catalog entry, a stack block and a parsed config.json are validated by the
same rules and become the same `ModelArchitecture`.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Optional

import yaml
from pydantic import Field, NonNegativeInt, PositiveInt, ValidationError, model_validator

from ..strict import StrictModel
from .architecture import DTYPE_BYTES, ModelArchitecture, estimate_parameters

CATALOG_PATH = Path(__file__).resolve().parent.parent / "data" / "model_catalog.yaml"
#: A config.json larger than this is not a model config (bounded memory for a user-given path).
MAX_CONFIG_BYTES = 1 << 20

Dtype = Literal["float32", "bfloat16", "float16"]
Quantization = Literal["fp8", "int8", "awq", "gptq", "int4"]


class CapacityInputError(ValueError):
    """A model description that can't be used: the message names the file or key and what would be valid."""


class ModelInfo(StrictModel):
    """A model's architecture as a stack gives it (`modelInfo:`), for models the catalog doesn't know."""

    layers: PositiveInt = Field(description="Decoder layers (config.json num_hidden_layers).")
    hidden_size: PositiveInt = Field(description="config.json hidden_size.")
    attention_heads: PositiveInt = Field(description="Query heads (num_attention_heads).")
    kv_heads: Optional[PositiveInt] = Field(None, description="KV heads (num_key_value_heads); default: attentionHeads.")
    head_dim: Optional[PositiveInt] = Field(None, description="Per-head size (head_dim); default: hiddenSize / attentionHeads.")
    vocab_size: PositiveInt = Field(description="vocab_size.")
    intermediate_size: Optional[PositiveInt] = Field(None, description="Dense MLP width (intermediate_size).")
    parameters: Optional[PositiveInt] = Field(None, description="Total parameters; estimated from the shape when absent.")
    active_parameters: Optional[PositiveInt] = Field(None, description="MoE: parameters one token runs through.")
    max_context: PositiveInt = Field(description="Longest context the model supports (max_position_embeddings).")
    dtype: Dtype = Field("bfloat16", description="Checkpoint dtype (torch_dtype).")
    quantization: Optional[Quantization] = Field(None, description="Weight quantisation of the linear layers.")
    tied_embeddings: bool = Field(False, description="lm-head shares the input embedding (tie_word_embeddings).")
    attention: Literal["gqa", "mla"] = Field("gqa", description="gqa (also MHA/MQA) or mla (multi-head latent).")
    q_lora_rank: Optional[PositiveInt] = Field(None, description="MLA: q_lora_rank (absent: no query compression).")
    kv_lora_rank: Optional[PositiveInt] = Field(None, description="MLA: kv_lora_rank (latent KV width).")
    qk_nope_head_dim: Optional[PositiveInt] = Field(None, description="MLA: qk_nope_head_dim.")
    qk_rope_head_dim: Optional[PositiveInt] = Field(None, description="MLA: qk_rope_head_dim (decoupled RoPE key).")
    v_head_dim: Optional[PositiveInt] = Field(None, description="MLA: v_head_dim.")
    sliding_window: Optional[PositiveInt] = Field(None, description="Window of the sliding-window layers.")
    sliding_layers: NonNegativeInt = Field(0, description="How many layers use the sliding window.")
    experts: NonNegativeInt = Field(0, description="MoE: routed experts per MoE layer.")
    experts_per_token: NonNegativeInt = Field(0, description="MoE: routed experts per token.")
    moe_intermediate_size: Optional[PositiveInt] = Field(None, description="MoE: width of one expert.")
    shared_experts: NonNegativeInt = Field(0, description="MoE: always-on shared experts per MoE layer.")
    dense_layers: NonNegativeInt = Field(0, description="MoE: leading dense layers (first_k_dense_replace).")

    @model_validator(mode="after")
    def _consistent(self) -> "ModelInfo":
        problems = _shape_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def architecture(self, source: str) -> ModelArchitecture:
        spec = self.model_dump(by_alias=True, exclude_none=True)
        parameters = self.parameters or estimate_parameters(spec)
        active = self.active_parameters or (estimate_parameters(spec, active=True) if self.experts else None)
        return ModelArchitecture(
            layers=self.layers, hidden_size=self.hidden_size, attention_heads=self.attention_heads,
            kv_heads=self.kv_heads or self.attention_heads,
            head_dim=self.head_dim or self.hidden_size // self.attention_heads,
            vocab_size=self.vocab_size, parameters=parameters, max_context=self.max_context, dtype=self.dtype,
            quantization=self.quantization, tied_embeddings=self.tied_embeddings, attention=self.attention,
            kv_lora_rank=self.kv_lora_rank or 0, qk_rope_head_dim=self.qk_rope_head_dim or 0,
            sliding_window=self.sliding_window, sliding_layers=self.sliding_layers,
            active_parameters=active, experts=self.experts, source=source,
        )


def _shape_problems(info: ModelInfo) -> list[str]:
    problems = []
    kv_heads = info.kv_heads or info.attention_heads
    if info.attention == "gqa" and info.attention_heads % kv_heads:
        problems.append(f"attentionHeads ({info.attention_heads}) must be a multiple of kvHeads ({kv_heads})")
    mla = ("kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim")
    if info.attention == "mla" and any(getattr(info, name) is None for name in mla):
        problems.append("attention 'mla' needs kvLoraRank, qkNopeHeadDim, qkRopeHeadDim and vHeadDim")
    if info.sliding_layers > info.layers:
        problems.append(f"slidingLayers ({info.sliding_layers}) exceeds layers ({info.layers})")
    if info.sliding_layers and info.sliding_window is None:
        problems.append("slidingLayers needs slidingWindow")
    if info.experts and not (info.experts_per_token and info.moe_intermediate_size):
        problems.append("experts needs expertsPerToken and moeIntermediateSize")
    if info.parameters is None and not (info.intermediate_size or info.moe_intermediate_size):
        problems.append("give parameters, or intermediateSize (moeIntermediateSize for MoE) to estimate them")
    return problems


class CatalogSource(StrictModel):
    repo: str = Field(description="The Hugging Face repository whose config.json the entry copies.")
    fields: str = Field(description="The config.json values the entry was written from.")


class CatalogEntry(ModelInfo):
    ids: list[str] = Field(min_length=1, description="Model ids this entry answers to (case-insensitive).")
    source: CatalogSource


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else first["msg"]


@lru_cache(maxsize=1)
def catalog() -> dict[str, CatalogEntry]:
    """Every shipped entry by lower-cased model id."""
    data = yaml.safe_load(CATALOG_PATH.read_text(encoding="utf-8"))
    entries: dict[str, CatalogEntry] = {}
    for index, raw in enumerate(data["models"]):
        try:
            entry = CatalogEntry.model_validate(raw)
        except ValidationError as error:
            raise CapacityInputError(f"{CATALOG_PATH.name}: models[{index}].{_describe(error)}") from None
        for model_id in entry.ids:
            entries[model_id.lower()] = entry
    return entries


def catalog_architecture(model_id: str) -> Optional[ModelArchitecture]:
    """The catalog's architecture for a model id (`org/name`, any case), or None when it has none."""
    entry = catalog().get(model_id.strip().lower())
    return entry.architecture(f"catalog: {entry.source.repo}") if entry else None


def model_info_architecture(block: Any, where: str = "modelInfo") -> ModelArchitecture:
    """Validates a stack's `modelInfo:` block; errors name the key below `where`."""
    try:
        info = ModelInfo.model_validate(block)
    except ValidationError as error:
        raise CapacityInputError(f"{where}.{_describe(error)}") from None
    return info.architecture(where)


# ------------------------------------------------------------------ config.json

_REQUIRED = {
    "num_hidden_layers": "layers", "hidden_size": "hiddenSize", "num_attention_heads": "attentionHeads",
    "vocab_size": "vocabSize", "max_position_embeddings": "maxContext",
}
_OPTIONAL = {
    "num_key_value_heads": "kvHeads", "head_dim": "headDim", "intermediate_size": "intermediateSize",
    "q_lora_rank": "qLoraRank", "kv_lora_rank": "kvLoraRank", "qk_nope_head_dim": "qkNopeHeadDim",
    "qk_rope_head_dim": "qkRopeHeadDim", "v_head_dim": "vHeadDim", "num_experts_per_tok": "expertsPerToken",
    "moe_intermediate_size": "moeIntermediateSize", "n_shared_experts": "sharedExperts",
    "first_k_dense_replace": "denseLayers",
}
_EXPERT_KEYS = ("num_local_experts", "num_experts", "n_routed_experts")


def _read_json(path: Path) -> dict:
    try:
        size = path.stat().st_size
    except OSError as error:
        raise CapacityInputError(f"{path}: can't read the model config: {error.strerror}") from None
    if size > MAX_CONFIG_BYTES:
        raise CapacityInputError(f"{path}: {size} bytes is too large for a model config.json (at most {MAX_CONFIG_BYTES})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise CapacityInputError(f"{path}:{error.lineno}: not valid JSON: {error.msg}") from None
    except UnicodeDecodeError:
        raise CapacityInputError(f"{path}: not UTF-8 text") from None
    if not isinstance(data, dict):
        raise CapacityInputError(f"{path}: a model config.json is a JSON object, got {type(data).__name__}")
    return data


def _positive_int(path: Path, config: dict, key: str) -> int:
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise CapacityInputError(f"{path}: key '{key}' must be a positive integer, got {value!r}")
    return value


def _text_config(data: dict) -> dict:
    """Multimodal configs (Gemma 3, Llama 4, …) nest the language model under text_config."""
    text = data.get("text_config")
    if isinstance(text, dict) and "num_hidden_layers" not in data:
        return {"torch_dtype": data.get("torch_dtype"), **{k: v for k, v in text.items() if v is not None}}
    return data


def load_config_json(path: Path) -> ModelArchitecture:
    """The architecture of a Hugging Face `config.json`; errors name the file and the key."""
    config = _text_config(_read_json(path))
    spec: dict[str, Any] = {}
    for key, name in _REQUIRED.items():
        if key not in config:
            raise CapacityInputError(f"{path}: missing key '{key}' (needed for the memory plan)")
        spec[name] = _positive_int(path, config, key)
    for key, name in _OPTIONAL.items():
        if config.get(key) is not None:
            spec[name] = _positive_int(path, config, key) if name != "denseLayers" else int(config[key])
    spec.update(_dtype(path, config), tiedEmbeddings=bool(config.get("tie_word_embeddings", True)))
    spec.update(_experts(path, config, spec), **_sliding(config, spec["layers"]))
    if "kvLoraRank" in spec:
        spec["attention"] = "mla"
    quantization = _quantization(path, config.get("quantization_config"))
    if quantization:
        spec["quantization"] = quantization
    try:
        return ModelInfo.model_validate(spec).architecture(str(path))
    except ValidationError as error:
        raise CapacityInputError(f"{path}: {_describe(error)}") from None


def _dtype(path: Path, config: dict) -> dict:
    """torch_dtype (newer transformers write `dtype`); absent means bfloat16, what vLLM's 'auto' picks for bf16 checkpoints."""
    dtype = config.get("torch_dtype") or config.get("dtype") or "bfloat16"
    if dtype not in ("float32", "bfloat16", "float16"):
        raise CapacityInputError(f"{path}: key 'torch_dtype' must be one of float32, bfloat16, float16, got {dtype!r}")
    return {"dtype": dtype}


def _experts(path: Path, config: dict, spec: dict) -> dict:
    key = next((k for k in _EXPERT_KEYS if config.get(k)), None)
    if key is None:
        return {}
    found = {"experts": _positive_int(path, config, key)}
    if "moeIntermediateSize" not in spec and "intermediateSize" in spec:
        # Mixtral: every layer is MoE and intermediate_size is the width of one expert.
        found["moeIntermediateSize"] = spec.pop("intermediateSize")
    if config.get("shared_expert_intermediate_size"):
        found["sharedExperts"] = max(1, config["shared_expert_intermediate_size"] // spec.get("moeIntermediateSize", 1))
    return found


def _sliding(config: dict, layers: int) -> dict:
    """Sliding-window layers: HF `layer_types`, Gemma 3's `sliding_window_pattern`, Gemma 2's alternation."""
    window = config.get("sliding_window")
    if not window or config.get("use_sliding_window") is False:
        return {}
    if isinstance(config.get("layer_types"), list):
        sliding = sum(1 for kind in config["layer_types"] if kind == "sliding_attention")
    elif config.get("sliding_window_pattern"):
        sliding = layers - layers // int(config["sliding_window_pattern"])
    elif config.get("model_type") == "gemma2":
        sliding = layers // 2
    else:
        sliding = layers
    return {"slidingWindow": int(window), "slidingLayers": sliding} if sliding else {}


def _quantization(path: Path, config: Any) -> Optional[str]:
    if not config:
        return None
    if not isinstance(config, dict):
        raise CapacityInputError(f"{path}: key 'quantization_config' must be an object")
    method = str(config.get("quant_method", "")).lower()
    bits = config.get("bits") or config.get("w_bit")
    if method in ("fp8", "fbgemm_fp8"):
        return "fp8"
    if method in ("awq", "gptq") and bits in (4, 8):
        return method if bits == 4 else "int8"
    if method == "bitsandbytes":
        return "int4" if config.get("load_in_4bit") else "int8"
    if method == "compressed-tensors":
        return _compressed_tensors_bits(path, config)
    raise CapacityInputError(
        f"{path}: key 'quantization_config.quant_method' {method!r} (bits {bits!r}) is not one the memory plan "
        "knows (fp8, fbgemm_fp8, awq/gptq with bits 4 or 8, bitsandbytes, compressed-tensors); "
        "describe the model with a modelInfo block instead"
    )


def _compressed_tensors_bits(path: Path, config: dict) -> str:
    groups = config.get("config_groups") or {}
    bits = {group.get("weights", {}).get("num_bits") for group in groups.values() if isinstance(group, dict)}
    if bits == {8}:
        return "fp8" if any(g.get("weights", {}).get("type") == "float" for g in groups.values()) else "int8"
    if bits == {4}:
        return "int4"
    raise CapacityInputError(
        f"{path}: key 'quantization_config.config_groups' has weight bits {sorted(map(str, bits))}; expected all 4 or all 8"
    )


__all__ = [
    "CATALOG_PATH", "CapacityInputError", "CatalogEntry", "ModelInfo", "catalog", "catalog_architecture",
    "load_config_json", "model_info_architecture", "DTYPE_BYTES",
]
