"""What the memory plan needs to know about a model, and the two formulas that use it.

The KV cache per token, by attention type (what vLLM allocates per layer and token):

- multi-head, grouped-query and multi-query attention (`gqa`): one K and one V
  vector per KV head, so `2 × kv_heads × head_dim × kv_dtype_bytes` per layer
  (vLLM `FullAttentionSpec.page_size_bytes`: `2 × block_size × num_kv_heads × head_size × dtype size`);
- multi-head latent attention (`mla`, DeepSeek-V2/V3/R1): one compressed latent plus
  the decoupled RoPE key, `(kv_lora_rank + qk_rope_head_dim) × kv_dtype_bytes` per layer,
  no separate V (vLLM `MLAAttentionSpec`: one "head" of size `kv_lora_rank + qk_rope_head_dim`);
- sliding-window layers (Gemma 2/3) keep at most `sliding_window` tokens of a sequence.

The parameter estimate (`estimate_parameters`) counts a SwiGLU decoder's matrices
(embeddings, attention, MLP or experts, norms) and ignores biases; it fills in
`parameters` for a local config.json, which carries no count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

AttentionType = Literal["gqa", "mla"]

#: Bytes per value of the dtypes a checkpoint or a KV cache is stored in.
DTYPE_BYTES: dict[str, float] = {
    "float32": 4, "bfloat16": 2, "float16": 2, "fp8": 1, "float8_e4m3fn": 1, "int8": 1, "int4": 0.5,
}
#: Bytes per weight of the quantised linear layers (embeddings and lm-head keep the checkpoint dtype).
QUANTIZATION_BYTES: dict[str, float] = {
    "fp8": 1, "fbgemm_fp8": 1, "int8": 1, "w8a8": 1, "awq": 0.5, "gptq": 0.5, "int4": 0.5, "bitsandbytes": 0.5,
}


@dataclass(frozen=True)
class ModelArchitecture:
    """The fields of a model's config.json that decide its memory per GPU and its parallelism rules."""

    layers: int
    hidden_size: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    vocab_size: int
    parameters: int
    max_context: int
    dtype: str = "bfloat16"
    quantization: Optional[str] = None
    tied_embeddings: bool = False
    attention: AttentionType = "gqa"
    kv_lora_rank: int = 0
    qk_rope_head_dim: int = 0
    sliding_window: Optional[int] = None
    sliding_layers: int = 0
    active_parameters: Optional[int] = None
    experts: int = 0
    source: str = ""

    @property
    def dtype_bytes(self) -> float:
        return DTYPE_BYTES[self.dtype]

    @property
    def weight_bytes_per_parameter(self) -> float:
        """Bytes of one quantised (or, unquantised, checkpoint-dtype) weight of the linear layers."""
        return QUANTIZATION_BYTES[self.quantization] if self.quantization else self.dtype_bytes

    @property
    def embedding_parameters(self) -> int:
        """Input embedding plus an untied lm-head: `vocab × hidden` each."""
        return self.vocab_size * self.hidden_size * (1 if self.tied_embeddings else 2)

    @property
    def weight_bytes(self) -> float:
        """Whole-model weights: linear layers at the quantised width, embeddings at the checkpoint dtype."""
        body = self.parameters - self.embedding_parameters
        return body * self.weight_bytes_per_parameter + self.embedding_parameters * self.dtype_bytes

    def kv_bytes_per_token_per_layer(self, kv_dtype_bytes: float, tensor: int = 1) -> float:
        """KV cache bytes one token takes in one layer on one GPU of a TP group.

        gqa: each GPU holds `max(1, kv_heads // TP)` heads (vLLM replicates KV heads
        when TP > kv_heads); mla: the latent is replicated on every TP rank.
        """
        if self.attention == "mla":
            return (self.kv_lora_rank + self.qk_rope_head_dim) * kv_dtype_bytes
        return 2 * max(1, self.kv_heads // tensor) * self.head_dim * kv_dtype_bytes


def _attention_parameters(spec: dict, hidden: int) -> int:
    heads = spec["attentionHeads"]
    if spec.get("attention", "gqa") == "mla":
        qk = spec["qkNopeHeadDim"] + spec["qkRopeHeadDim"]
        q_rank = spec.get("qLoraRank") or 0
        query = hidden * q_rank + q_rank * heads * qk + q_rank if q_rank else hidden * heads * qk
        latent = hidden * (spec["kvLoraRank"] + spec["qkRopeHeadDim"]) + spec["kvLoraRank"]
        key_value = spec["kvLoraRank"] * heads * (spec["qkNopeHeadDim"] + spec["vHeadDim"])
        return query + latent + key_value + heads * spec["vHeadDim"] * hidden
    head_dim = spec.get("headDim") or hidden // heads
    kv_heads = spec.get("kvHeads") or heads
    return 2 * hidden * heads * head_dim + 2 * hidden * kv_heads * head_dim


def _ffn_parameters(spec: dict, hidden: int, experts: int) -> tuple[int, int]:
    """(MoE layers' FFN, dense layers' FFN) parameters of one layer, with `experts` routed experts counted."""
    dense = 3 * hidden * spec.get("intermediateSize", 0)
    if not spec.get("experts"):
        return 0, dense
    expert = 3 * hidden * spec["moeIntermediateSize"]
    shared = spec.get("sharedExperts", 0) * expert
    return experts * expert + shared + hidden * spec["experts"], dense


def estimate_parameters(spec: dict, active: bool = False) -> int:
    """Parameters of a SwiGLU decoder described by modelInfo-style keys (biases ignored: < 0.01 %).

    `active` counts only `expertsPerToken` routed experts per MoE layer (what one token runs through).
    """
    hidden, layers = spec["hiddenSize"], spec["layers"]
    experts = spec.get("expertsPerToken", 0) if active else spec.get("experts", 0)
    moe, dense = _ffn_parameters(spec, hidden, experts)
    dense_layers = spec.get("denseLayers", 0) if spec.get("experts") else layers
    norms = 2 * hidden
    per_layer = _attention_parameters(spec, hidden) + norms
    embeddings = spec["vocabSize"] * hidden * (1 if spec.get("tiedEmbeddings") else 2)
    return (layers * per_layer + dense_layers * dense + (layers - dense_layers) * moe
            + embeddings + hidden)
