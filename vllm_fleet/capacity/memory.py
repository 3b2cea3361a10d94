"""The memory plan of one GPU: vLLM's parallelism rules, weights, and how many tokens of KV cache fit.

Pure functions from a `ModelArchitecture`, a GPU's memory and the parallelism
to numbers and findings, so a stack that would fail at pod start (after the
image pull and the weights wait) fails at preview instead.

vLLM's sizing, which this follows (`vllm/v1/worker/gpu_worker.py`,
`determine_available_memory`): KV room = total × gpu-memory-utilization −
weights − peak activations − non-torch memory (CUDA context, NCCL buffers,
CUDA graphs). vLLM profiles the last two at start; here they are a stated
reserve (`DEFAULT_RESERVE_BYTES`). The room is cut into blocks of
`BLOCK_SIZE` tokens; a sequence of max-model-len must fit in it or vLLM
refuses to start ("To serve at least one request with the models's max seq
len … bytes KV cache is needed").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal, Optional

from .architecture import ModelArchitecture

GIB = 2**30
#: Peak activations + non-torch memory per GPU (vLLM measures them at start; 1–4 GiB at the
#: default max-num-batched-tokens on H100-class GPUs, more with large CUDA-graph batches).
DEFAULT_RESERVE_BYTES = 3 * GIB
DEFAULT_UTILIZATION = 0.9
#: vLLM's default KV block size in tokens.
BLOCK_SIZE = 16
#: Fewer full-length sequences than this fitting in the KV room is "tight": a warning.
TIGHT_SEQUENCES = 4

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class CapacityIssue:
    """A finding with the key path relative to the model (like `PlanError.field`)."""

    severity: Severity
    field: tuple[str, ...]
    message: str


@dataclass(frozen=True)
class MemoryPlan:
    """Per GPU of the fullest pipeline stage, in bytes and tokens."""

    gpu_memory: int
    utilization: float
    reserve: int
    weights: float
    kv_bytes_per_token: float
    kv_bytes_per_sequence: float
    kv_room: float
    kv_tokens: int
    max_model_len: int
    sequences: float
    issues: tuple[CapacityIssue, ...]

    @property
    def errors(self) -> tuple[CapacityIssue, ...]:
        return tuple(i for i in self.issues if i.severity == "error")

    @property
    def warnings(self) -> tuple[CapacityIssue, ...]:
        return tuple(i for i in self.issues if i.severity == "warning")


def gib(amount: float) -> str:
    return f"{amount / GIB:.1f} GiB"


def parallelism_issues(arch: ModelArchitecture, tensor: int, pipeline: int, max_model_len: Optional[int]) -> list[CapacityIssue]:
    """The checks vLLM makes before it loads anything, with the numbers that broke them.

    - `ModelConfig.verify_with_parallel_config`: attention heads % TP == 0;
    - `QKVParallelLinear`: TP ≥ KV heads → `divide(TP, kv_heads)` (each KV head replicated
      TP/kv_heads times); TP < KV heads → `divide(kv_heads, TP)`. MLA has no KV heads to split;
    - `get_pp_indices`: every pipeline stage needs at least one layer;
    - max-model-len above the model's context is refused unless VLLM_ALLOW_LONG_MAX_MODEL_LEN=1.
    """
    issues = []
    if arch.attention_heads % tensor:
        options = ", ".join(str(d) for d in range(1, arch.attention_heads + 1) if arch.attention_heads % d == 0 and d <= 64)
        issues.append(CapacityIssue("error", ("parallelism", "tensor"), (
            f"TP={tensor} does not divide the model's {arch.attention_heads} attention heads; use one of {options}")))
    elif arch.attention == "gqa" and not _kv_heads_fit(arch.kv_heads, tensor):
        issues.append(CapacityIssue("error", ("parallelism", "tensor"), (
            f"TP={tensor} and the model's {arch.kv_heads} KV heads don't split evenly: vLLM needs KV heads "
            f"divisible by TP (TP < {arch.kv_heads}) or TP a multiple of {arch.kv_heads} (KV heads replicated)")))
    if pipeline > arch.layers:
        issues.append(CapacityIssue("error", ("parallelism", "pipeline"), (
            f"PP={pipeline} exceeds the model's {arch.layers} layers; every stage needs a layer, "
            f"so use at most {arch.layers}")))
    if max_model_len is not None and max_model_len > arch.max_context:
        issues.append(CapacityIssue("error", ("engineArgs", "max-model-len"), (
            f"max-model-len {max_model_len} exceeds the model's context of {arch.max_context} tokens")))
    return issues


def _kv_heads_fit(kv_heads: int, tensor: int) -> bool:
    return tensor % kv_heads == 0 if tensor >= kv_heads else kv_heads % tensor == 0


def weights_per_gpu(arch: ModelArchitecture, tensor: int, pipeline: int) -> float:
    """Weight bytes on one GPU of the fullest pipeline stage.

    The decoder layers split evenly over the stages; the input embedding sits on
    the first stage and the lm-head on the last (with tied embeddings each holds
    a copy), so with PP > 1 the fullest stage carries one of them, with PP = 1
    both. Within a stage TP shards everything (vLLM's VocabParallelEmbedding and
    ParallelLMHead shard the vocabulary; norms and MLA's small latent
    projections are replicated, < 0.1 %, ignored).
    """
    one_embedding = arch.vocab_size * arch.hidden_size * arch.dtype_bytes
    embeddings = arch.embedding_parameters * arch.dtype_bytes
    body = arch.weight_bytes - embeddings
    stage_embeddings = embeddings if pipeline == 1 else one_embedding
    return (body / pipeline + stage_embeddings) / tensor


def kv_bytes_per_sequence(arch: ModelArchitecture, tokens: int, tensor: int, pipeline: int, kv_dtype_bytes: float) -> float:
    """KV bytes of one sequence of `tokens` on one GPU of the fullest stage; sliding layers keep `sliding_window` tokens."""
    per_layer = arch.kv_bytes_per_token_per_layer(kv_dtype_bytes, tensor)
    stage_layers = math.ceil(arch.layers / pipeline)
    full_layers = min(stage_layers, math.ceil((arch.layers - arch.sliding_layers) / pipeline))
    sliding_layers = stage_layers - full_layers
    window = min(tokens, arch.sliding_window or tokens)
    return per_layer * (full_layers * tokens + sliding_layers * window)


def plan_memory(
    arch: ModelArchitecture,
    gpu_memory: int,
    tensor: int = 1,
    pipeline: int = 1,
    max_model_len: Optional[int] = None,
    utilization: float = DEFAULT_UTILIZATION,
    kv_dtype_bytes: Optional[float] = None,
    reserve: int = DEFAULT_RESERVE_BYTES,
) -> MemoryPlan:
    """Weights and KV room per GPU, the tokens that fit, and every rule the plan breaks.

    `max_model_len` defaults to the model's context (vLLM's default); `kv_dtype_bytes`
    to the checkpoint dtype (`--kv-cache-dtype auto`).
    """
    issues = parallelism_issues(arch, tensor, pipeline, max_model_len)
    length = max_model_len or arch.max_context
    kv_bytes = kv_dtype_bytes or arch.dtype_bytes
    weights = weights_per_gpu(arch, tensor, pipeline)
    kv_room = gpu_memory * utilization - weights - reserve
    per_sequence = kv_bytes_per_sequence(arch, length, tensor, pipeline, kv_bytes)
    per_token = per_sequence / length
    blocks = max(0, math.floor(kv_room / (per_token * BLOCK_SIZE)))
    sequences = max(0.0, kv_room) / per_sequence
    plan = MemoryPlan(
        gpu_memory=gpu_memory, utilization=utilization, reserve=reserve, weights=weights,
        kv_bytes_per_token=per_token, kv_bytes_per_sequence=per_sequence, kv_room=kv_room,
        kv_tokens=blocks * BLOCK_SIZE, max_model_len=length, sequences=sequences, issues=(),
    )
    return replace(plan, issues=tuple(issues + _memory_issues(arch, plan, tensor, pipeline)))


def _memory_issues(arch: ModelArchitecture, plan: MemoryPlan, tensor: int, pipeline: int) -> list[CapacityIssue]:
    """No room for the weights, or for one sequence of max-model-len (errors); room for only a few (a warning)."""
    gpu_memory, utilization, reserve, weights = plan.gpu_memory, plan.utilization, plan.reserve, plan.weights
    kv_room, per_sequence, length = plan.kv_room, plan.kv_bytes_per_sequence, plan.max_model_len
    budget = gpu_memory * utilization - reserve
    gpus = tensor * pipeline
    if kv_room <= 0:
        needed = math.ceil(arch.weight_bytes / budget) if budget > 0 else None
        hint = f"; the weights alone need at least {needed} such GPUs" if needed else ""
        return [CapacityIssue("error", ("parallelism",), (
            f"the weights need {gib(weights)} per GPU on {gpus} GPU(s) (TP={tensor} × PP={pipeline}), but a "
            f"{gib(gpu_memory)} GPU has {gib(budget)} at gpu-memory-utilization {utilization} after a "
            f"{gib(reserve)} activation reserve{hint}"))]
    if kv_room < per_sequence:
        return [CapacityIssue("error", ("engineArgs", "max-model-len"), (
            f"one sequence of max-model-len {length} needs {gib(per_sequence)} of KV cache per GPU, but only "
            f"{gib(kv_room)} is left after {gib(weights)} of weights; lower max-model-len or add GPUs"))]
    sequences = kv_room / per_sequence
    if sequences < TIGHT_SEQUENCES:
        return [CapacityIssue("warning", ("engineArgs", "max-model-len"), (
            f"the KV cache holds only {sequences:.1f} sequences of max-model-len {length} "
            f"(fewer than {TIGHT_SEQUENCES}): long requests will queue or be preempted"))]
    return []
